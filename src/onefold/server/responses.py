"""JSON responses through orjson: dataclasses and datetimes natively, errors in one shape.

Every error body is `{"code", "message"}` — the shape rudder-sdk parses and analytics-node
prints — plus whatever the error adds (the rejected messages, the candidate profiles).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body, default=_default, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_response(status: int, code: str, message: str, **more: Any) -> Response:
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return json_response({"code": code, "message": message, **more}, status, headers)
