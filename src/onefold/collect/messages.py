"""Segment HTTP Tracking API messages: reading request bodies and checking each message.

Pure functions, no I/O: the server hands them bytes and gets back what to store. What the
real SDKs send (seen by pointing them at a capture server, not taken from the docs):
- analytics-python and rudder-sdk-python POST `/v1/batch` with `{"batch": [...], "sentAt"}`,
  the write key as HTTP Basic user *and* `writeKey` in the body; rudder gzips the body and
  puts identify traits in `context.traits`, and counts only a 200 as delivered;
- analytics.js posts one message per request to `/v1/t`, `/v1/p`, `/v1/i`… (or `/v1/b` when
  batching) as `text/plain`, with `writeKey` and `sentAt` inside and a Basic auth header
  (so browsers preflight; the server answers it).

Limits follow Segment's documentation: 32 KB per message, 500 KB per request.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

MAX_MESSAGE_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
#: Messages per batch request; at 500 KB a batch this long would be ~20 bytes a message.
MAX_BATCH_MESSAGES = 2500

TYPES = ("track", "identify", "page", "screen", "group", "alias")
#: analytics.js's one-letter paths.
SHORT_PATHS = {
    "t": "track",
    "i": "identify",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}

_GZIP_MAGIC = b"\x1f\x8b"


def too_large(what: str) -> RequestError:
    """The 413 for a request body over the limit; `what` says by how much."""
    return RequestError(
        413,
        "request_too_large",
        f"request body {what}; at most {MAX_REQUEST_BYTES:,} bytes (500 KB) are accepted: "
        "send smaller batches",
    )


class RequestError(Exception):
    """The whole request is refused: `status` and a `code` the SDKs print with the message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[RequestError], tuple[int, str, str]]:
        return (RequestError, (self.status, self.code, self.message))  # across processes


def inflate(raw: bytes, content_encoding: str | None) -> bytes:
    """The body as sent before any gzip (by header or by its magic bytes), within the limit."""
    encoding = (content_encoding or "").strip().lower()
    if encoding == "gzip" or (not encoding and raw[:2] == _GZIP_MAGIC):
        raw = _gunzip(raw)
    elif encoding not in ("", "identity"):
        raise RequestError(415, "unsupported_encoding", f"Content-Encoding {encoding!r}: use gzip")
    if len(raw) > MAX_REQUEST_BYTES:
        raise too_large(f"is {len(raw):,} bytes")
    return raw


def parse_body(raw: bytes) -> dict[str, Any]:
    """An inflated body's JSON object, whatever the Content-Type says (browsers send
    text/plain)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "invalid_json", f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RequestError(
            400, "invalid_json", f"expected a JSON object, got {type(body).__name__}"
        )
    return body


def _gunzip(raw: bytes) -> bytes:
    """Decompress, refusing to inflate past the request limit (a gzip bomb stops early)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, MAX_REQUEST_BYTES + 1)
    except zlib.error as exc:
        raise RequestError(400, "invalid_gzip", f"body is not valid gzip: {exc}") from exc
    if len(out) > MAX_REQUEST_BYTES or inflater.unconsumed_tail:
        raise too_large(f"inflates to more than {MAX_REQUEST_BYTES:,} bytes")
    return out


@dataclass(frozen=True)
class Accepted:
    """A valid message: the raw JSON to store, the collector's envelope beside it, its key."""

    payload: bytes
    meta: str
    message_id: str
    type: str


@dataclass(frozen=True)
class Rejected:
    index: int
    message_id: str | None
    field: str
    reason: str
    raw: str


def _iso(t: datetime) -> str:
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    return t.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@lru_cache(maxsize=256)
def _parse_sent_at(value: str) -> datetime | None:
    """A batch's messages share their `sentAt` (and the receive time): parsed once."""
    return _parse_time(value)


@lru_cache(maxsize=64)
def _received(t: datetime) -> str:
    return _iso(t)


def _identity(value: Any) -> bool:
    """userId / anonymousId: a non-empty string or a number (SDKs send both)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and bool(value.strip())


def _type_problem(kind: str, msg: dict[str, Any]) -> tuple[str, str] | None:
    if not (_identity(msg.get("userId")) or _identity(msg.get("anonymousId"))):
        return "userId", "userId or anonymousId is required"
    if kind == "track" and not (isinstance(msg.get("event"), str) and msg["event"].strip()):
        return "event", "a track call needs an event name"
    if kind == "alias":
        if not _identity(msg.get("previousId")):
            return "previousId", "an alias call needs previousId"
        if not _identity(msg.get("userId")):
            return "userId", "an alias call needs userId"
    if kind == "group" and not _identity(msg.get("groupId")):
        return "groupId", "a group call needs groupId"
    for key in ("traits", "properties", "context", "integrations"):
        if key in msg and msg[key] is not None and not isinstance(msg[key], dict):
            return key, f"{key} must be an object"
    return None


def check_message(
    msg: Any,
    index: int,
    received_at: datetime,
    *,
    batch_sent_at: Any = None,
    type_hint: str | None = None,
    raw: bytes | None = None,
) -> Accepted | Rejected:
    """Validate one message and stamp its envelope.

    `raw` is the message's bytes when the request held exactly this message (single-message
    endpoints): stored as received. A batch's messages are stored as orjson writes them back —
    the same JSON value, key order kept.
    """
    if not isinstance(msg, dict):
        shown = orjson.dumps(msg)[:500].decode()
        return Rejected(index, None, "(message)", "expected a JSON object", shown)
    payload = raw if raw is not None else orjson.dumps(msg)
    mid = msg.get("messageId")
    usable = isinstance(mid, str | int) and not isinstance(mid, bool) and str(mid).strip()
    message_id = str(mid) if usable else None

    def rejected(field: str, reason: str) -> Rejected:
        shown = payload[:2000].decode("utf-8", errors="replace")
        return Rejected(index, message_id, field, reason, shown)

    if len(payload) > MAX_MESSAGE_BYTES:
        return rejected(
            "(message)",
            f"message is {len(payload):,} bytes; at most {MAX_MESSAGE_BYTES:,} are accepted",
        )
    kind = msg.get("type", type_hint)
    if kind not in TYPES:
        return rejected("type", f"type {kind!r}: expected one of {', '.join(TYPES)}")
    if type_hint is not None and kind != type_hint:
        return rejected("type", f"type {kind!r} sent to the {type_hint} endpoint")
    problem = _type_problem(kind, msg)
    if problem:
        return rejected(*problem)
    envelope: dict[str, Any] = {"receivedAt": _received(received_at)}
    timestamp = msg.get("timestamp")
    if timestamp is not None:
        t = _parse_time(timestamp)
        if t is None:
            return rejected("timestamp", "timestamp: expected an ISO-8601 time")
        sent_at = msg.get("sentAt", batch_sent_at)
        sent = _parse_sent_at(sent_at) if isinstance(sent_at, str) else None
        try:
            # the device clock may be off: shift by how far its sentAt is from our receive time
            skew = received_at - sent if sent is not None else timedelta(0)
            corrected = _iso(t + skew)
        except OverflowError:  # year 9999 in another zone, or a sentAt skew past it
            return rejected("timestamp", "timestamp: out of range once corrected to UTC")
        envelope["originalTimestamp"] = timestamp
        envelope["timestamp"] = corrected
    else:
        envelope["timestamp"] = envelope["receivedAt"]
    context = msg.get("context")
    if isinstance(context, dict) and isinstance(context.get("traits"), dict):
        # the user's traits, wherever the SDK put them (rudder: only in context.traits)
        envelope["traits"] = {**context["traits"], **(msg.get("traits") or {})}
    if message_id is None:
        # no id from the client: one from the content, so a retry of it is still one message
        message_id = "auto-" + hashlib.sha256(payload).hexdigest()[:32]
        envelope["messageId"] = message_id
    return Accepted(payload, orjson.dumps(envelope).decode(), message_id, kind)
