"""Reading the key a request presents, the way each kind of client sends it.

Server SDKs send the write key as the HTTP Basic user name with an empty password;
analytics.js (1.84) sends that header too and `writeKey` in the body (and in every message of
a batch); older browser builds send only the body's. Profile API clients may also use
`Authorization: Bearer KEY`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from onefold.collect.keys import KeyKind, KeyRing, KeysUnavailable
from onefold.collect.messages import RequestError


def presented_key(authorization: str | None, body: dict[str, Any] | None = None) -> str | None:
    """The key in the `Authorization` header's value, else the body's `writeKey`."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() == "basic" and credentials:
        try:
            user = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise RequestError(
                401, "unauthorized", "Authorization: not valid Basic credentials"
            ) from None
        if user.partition(":")[0]:
            return user.partition(":")[0]
    elif scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    if body is not None and isinstance(body.get("writeKey"), str) and body["writeKey"]:
        return str(body["writeKey"])
    return None


def require_key(
    keys: KeyRing, authorization: str | None, kind: KeyKind, body: dict[str, Any] | None = None
) -> str | None:
    """The source of the valid key presented (None for a read key), or a 401."""
    key = presented_key(authorization, body)
    if key is None:
        where = "as the Basic user name or writeKey" if kind == "write" else "as Bearer or Basic"
        raise RequestError(401, "unauthorized", f"no {kind} key: send one {where}")
    try:
        found = keys.verify(key, kind)
    except KeysUnavailable as exc:
        raise RequestError(503, "keys_unavailable", f"{exc}; retry shortly") from exc
    if found is None:
        raise RequestError(
            401, "unauthorized", f"invalid or revoked {kind} key (see `onefold keys list`)"
        )
    return found.source
