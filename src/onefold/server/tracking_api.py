"""The Segment HTTP Tracking API: every path the real SDKs post to.

Server SDKs (analytics-python, analytics-node, rudder-sdk) post batches to `/v1/batch`;
analytics.js posts one message per request to `/v1/t`, `/v1/p`, `/v1/i`, `/v1/a`, `/v1/g`,
`/v1/s`, or batches to `/v1/b`; the documented long names are served too. A response is sent
only after the request's messages are committed (see `collect.committer`):

- 200 `{"success": true, "stored", "duplicates", "rejected": [...]}` — some or all stored;
  a retried message id is counted in `duplicates` and stored nothing;
- 400 when no message of the request is valid (the SDKs do not retry a 400); the invalid
  ones are kept in `rejects` with their reason either way;
- 401 for a missing, unknown or revoked write key; 413 over the size limits;
- 503 with `Retry-After` when the writer is behind or a commit failed: SDKs retry 5xx.

These paths are a plain ASGI app in front of FastAPI, not FastAPI routes: they take no
parameters for FastAPI to check, and its routing and middleware stack cost two thirds of the
CPU of a single-message call — CPU that the group-commit thread then waited on for the GIL.
Their OpenAPI description is added to FastAPI's schema (`openapi_paths`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from onefold.collect.committer import Delivery
from onefold.collect.messages import (
    MAX_BATCH_MESSAGES,
    MAX_REQUEST_BYTES,
    SHORT_PATHS,
    TYPES,
    Rejected,
    RequestError,
    too_large,
)
from onefold.collect.requests import check_parsed, parse_request
from onefold.server.auth import presented_key, require_key
from onefold.server.responses import error_response, json_response
from onefold.server.runtime import Runtime

log = logging.getLogger("onefold.server")


#: Path → message type (None: a batch of any types).
PATHS: dict[str, str | None] = {
    "/v1/batch": None,
    "/v1/b": None,
    "/v1/import": None,
    **{f"/v1/{kind}": kind for kind in TYPES},
    **{f"/v1/{short}": kind for short, kind in SHORT_PATHS.items()},
}
#: Any origin: analytics.js runs on the customer's sites, and a write key only appends.
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Max-Age": "86400",
}
#: Request ids: unique per server run (a random prefix) and cheap (a counter, no syscall).
_REQUEST_PREFIX = secrets.token_hex(4)
_REQUEST_NUMBERS = itertools.count(1)


def _request_id() -> str:
    return f"{_REQUEST_PREFIX}-{next(_REQUEST_NUMBERS):x}"


_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Segment message (https://segment.com/docs/connections/spec/)",
    "properties": {
        "type": {"enum": list(TYPES)},
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "messageId": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "event": {"type": "string"},
        "previousId": {"type": "string"},
        "groupId": {"type": "string"},
        "traits": {"type": "object"},
        "properties": {"type": "object"},
        "context": {"type": "object"},
        "writeKey": {"type": "string"},
    },
}
_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": _MESSAGE_SCHEMA, "maxItems": MAX_BATCH_MESSAGES},
        "sentAt": {"type": "string", "format": "date-time"},
        "writeKey": {"type": "string"},
    },
}


def _body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    content = {"schema": schema}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": content, "text/plain": content},
        }
    }


def _rejected_json(r: Rejected) -> dict[str, Any]:
    return {"index": r.index, "messageId": r.message_id, "field": r.field, "reason": r.reason}


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    """The body, refusing early (before reading it all) what is over the request limit."""
    declared = _header(scope, b"content-length")
    if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise too_large(f"is {int(declared):,} bytes")
    parts: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise too_large(f"is over {MAX_REQUEST_BYTES:,} bytes")
        parts.append(chunk)
        more = message.get("more_body", False)
    return b"".join(parts)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class TrackingApi:
    """The tracking paths; every other request goes on to `app` (FastAPI)."""

    def __init__(self, runtime: Runtime, app: ASGIApp) -> None:
        self.runtime = runtime
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/") if scope["type"] == "http" else ""
        if path not in PATHS:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":  # the browser's preflight
            asked = _header(scope, b"access-control-request-headers") or "*"
            response = Response(headers={**_CORS, "Access-Control-Allow-Headers": asked})
        elif scope["method"] != "POST":
            response = error_response(405, "method_not_allowed", f"{path} takes POST")
        else:
            try:
                response = await self._collect(scope, receive, PATHS[path])
            except RequestError as exc:
                response = error_response(exc.status, exc.code, exc.message)
            except ConnectionAbortedError:
                return
            except Exception:  # a bug: say so and keep serving
                log.exception("tracking request to %s failed", path)
                response = error_response(500, "internal_error", "the server failed; retry")
        response.headers.update(_CORS)
        await response(scope, receive, send)

    async def _collect(self, scope: Scope, receive: Receive, kind: str | None) -> Response:
        raw = await _read_body(scope, receive)
        received_at = datetime.now(UTC)
        runtime = self.runtime
        authorization = _header(scope, b"authorization")
        encoding = _header(scope, b"content-encoding")
        # the key first, so that a request without a valid one costs no checking: from the
        # Authorization header (every current SDK sends it), else from the body
        if presented_key(authorization) is not None:
            source = require_key(runtime.keys, authorization, "write")
            checked = await runtime.checker.check(raw, encoding, kind, received_at)
        else:
            parsed = parse_request(raw, encoding)
            source = require_key(runtime.keys, None, "write", parsed.body)
            checked = check_parsed(parsed, kind, received_at)
        mapping = runtime.mapping(source or "")
        if mapping is None or not mapping.collected:
            raise RequestError(
                401,
                "unauthorized",
                f"the key's source {source!r} is not an HTTP source "
                "(its sources/*.yml is gone or has another format)",
            )
        accepted, rejected = checked.accepted, checked.rejected
        request_id = _request_id()
        try:
            future = runtime.committer.submit(mapping, accepted, rejected, request_id)
        except queue.Full:
            return error_response(503, "busy", "the store is behind; retry shortly")
        try:
            delivery: Delivery = await asyncio.wrap_future(future)
        except Exception:
            return error_response(503, "commit_failed", "the messages were not stored; retry")
        if not accepted:
            first = rejected[0]
            return error_response(
                400,
                "invalid_messages",
                f"no valid message: message {first.index}: {first.field}: {first.reason}",
                rejected=[_rejected_json(r) for r in rejected],
                request_id=request_id,
            )
        return json_response(
            {
                "success": True,
                "stored": delivery.stored,
                "duplicates": len(delivery.duplicates),
                "rejected": [_rejected_json(r) for r in delivery.rejected],
                "request_id": request_id,
            }
        )


def openapi_paths() -> dict[str, Any]:
    """OpenAPI path items for the documented long names (the short ones are aliases)."""
    responses = {
        "200": {"description": "Committed: how many were stored, duplicates, rejected ones"},
        "400": {"description": "No valid message (each named by index, field and reason)"},
        "401": {"description": "Missing, unknown or revoked write key"},
        "413": {"description": "Over 500 KB a request, 32 KB a message or 2,500 messages"},
        "503": {"description": "The writer is behind or a commit failed: retry (Retry-After)"},
    }

    def item(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
        post = {"tags": ["tracking"], "summary": summary, **_body_doc(schema)}
        return {"post": {**post, "responses": responses}}

    paths = {
        "/v1/batch": item(
            "A batch of messages (server SDKs; analytics.js posts /v1/b when batching)",
            _BATCH_SCHEMA,
        )
    }
    for short, kind in SHORT_PATHS.items():
        paths[f"/v1/{kind}"] = item(
            f"One {kind} message (analytics.js posts /v1/{short})", _MESSAGE_SCHEMA
        )
    return paths
