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
"""

from __future__ import annotations

import asyncio
import queue
import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from onefold.collect.committer import Delivery
from onefold.collect.messages import (
    MAX_BATCH_MESSAGES,
    MAX_REQUEST_BYTES,
    SHORT_PATHS,
    TYPES,
    Accepted,
    Rejected,
    RequestError,
    check_message,
    read_body,
    too_large,
)
from onefold.server.auth import require_key
from onefold.server.responses import error_response, json_response
from onefold.server.runtime import Runtime

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


async def _read_limited(request: Request) -> bytes:
    """The body, refusing early (before reading it all) what is over the request limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise too_large(f"is {int(declared):,} bytes")
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise too_large(f"is over {MAX_REQUEST_BYTES:,} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _rejected_json(r: Rejected) -> dict[str, Any]:
    return {"index": r.index, "messageId": r.message_id, "field": r.field, "reason": r.reason}


def _without_key(msg: Any) -> Any:
    if isinstance(msg, dict) and "writeKey" in msg:
        return {k: v for k, v in msg.items() if k != "writeKey"}
    return msg


def _check_all(body: dict[str, Any], raw: bytes, kind: str | None) -> list[Accepted | Rejected]:
    now = datetime.now(UTC)
    if kind is None:
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise RequestError(400, "invalid_batch", 'expected {"batch": [messages…]}')
        if not batch:
            raise RequestError(400, "empty_batch", "the batch holds no messages")
        if len(batch) > MAX_BATCH_MESSAGES:
            raise RequestError(
                413,
                "batch_too_long",
                f"{len(batch):,} messages; at most {MAX_BATCH_MESSAGES:,} per batch",
            )
        sent_at = body.get("sentAt")
        # analytics.js puts the write key in every message of a batch too: not kept either
        batch = [_without_key(m) for m in batch]
        return [check_message(m, i, now, batch_sent_at=sent_at) for i, m in enumerate(batch)]
    if "writeKey" in body:  # a secret: not kept with the message
        return [check_message(_without_key(body), 0, now, type_hint=kind)]
    return [check_message(body, 0, now, type_hint=kind, raw=raw)]


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["tracking"])

    async def receive(request: Request, kind: str | None) -> Response:
        raw = await _read_limited(request)
        body = read_body(raw, request.headers.get("content-encoding"))
        source = require_key(runtime.keys, request, "write", body)
        mapping = runtime.ws.mappings.get(source or "")
        if mapping is None or not mapping.collected:
            raise RequestError(
                401,
                "unauthorized",
                f"the key's source {source!r} is not an HTTP source "
                "(its sources/*.yml is gone or has another format)",
            )
        checked = _check_all(body, raw, kind)
        accepted = [c for c in checked if isinstance(c, Accepted)]
        rejected = [c for c in checked if isinstance(c, Rejected)]
        request_id = secrets.token_hex(8)
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

    async def batch(request: Request) -> Response:
        return await receive(request, None)

    for path in ("/batch", "/b", "/import"):
        api.add_api_route(
            path,
            batch,
            methods=["POST"],
            summary="A batch of messages (server SDKs; analytics.js when batching)",
            openapi_extra=_body_doc(_BATCH_SCHEMA),
            include_in_schema=path == "/batch",
        )

    def single_handler(kind: str) -> Any:
        async def single(request: Request) -> Response:
            return await receive(request, kind)

        return single

    for short, kind in SHORT_PATHS.items():
        single = single_handler(kind)
        for path in (f"/{kind}", f"/{short}"):
            api.add_api_route(
                path,
                single,
                methods=["POST"],
                summary=f"One {kind} message",
                openapi_extra=_body_doc(_MESSAGE_SCHEMA),
                include_in_schema=path == f"/{kind}",
            )
    return api
