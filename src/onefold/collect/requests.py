"""Checking a whole tracking request: its body, then every message in it.

Pure functions over bytes, so that a batch can be checked in another process
(`server.checking`): checking and stamping is ~20 µs of Python per message, and on the
event loop's thread that Python — not the store — bounded `/v1/batch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onefold.collect.messages import (
    MAX_BATCH_MESSAGES,
    Accepted,
    Rejected,
    RequestError,
    check_message,
    inflate,
    parse_body,
)


@dataclass(frozen=True)
class CheckedRequest:
    """A request's messages, checked; `write_key` is the body's (analytics.js sends one)."""

    write_key: str | None
    accepted: list[Accepted]
    rejected: list[Rejected]


@dataclass(frozen=True)
class CheckedColumns:
    """`CheckedRequest` as columns: a tenth of the cost to pass between processes."""

    write_key: str | None
    payloads: list[bytes]
    metas: list[str]
    message_ids: list[str]
    types: list[str]
    rejected: list[Rejected]

    def request(self) -> CheckedRequest:
        accepted = list(map(Accepted, self.payloads, self.metas, self.message_ids, self.types))
        return CheckedRequest(self.write_key, accepted, self.rejected)


def _without_key(msg: Any) -> Any:
    if isinstance(msg, dict) and "writeKey" in msg:
        return {k: v for k, v in msg.items() if k != "writeKey"}
    return msg


def _body_key(body: dict[str, Any]) -> str | None:
    key = body.get("writeKey")
    return key if isinstance(key, str) and key else None


@dataclass(frozen=True)
class ParsedRequest:
    """A request body read: the bytes as sent before gzip, and their JSON object."""

    plain: bytes
    body: dict[str, Any]


def parse_request(raw: bytes, content_encoding: str | None) -> ParsedRequest:
    plain = inflate(raw, content_encoding)
    return ParsedRequest(plain, parse_body(plain))


def check_request(
    raw: bytes, content_encoding: str | None, kind: str | None, received_at: datetime
) -> CheckedRequest:
    """Read the body and check each message; `kind` None means a batch of any types."""
    return check_parsed(parse_request(raw, content_encoding), kind, received_at)


def check_parsed(parsed: ParsedRequest, kind: str | None, received_at: datetime) -> CheckedRequest:
    """Check each message of a read body. A single message is stored as the bytes it came
    in (inflated: a gzip stream is not the message)."""
    body, raw = parsed.body, parsed.plain
    if kind is not None:
        if "writeKey" in body:  # a secret: not kept with the message
            checked = check_message(_without_key(body), 0, received_at, type_hint=kind)
        else:
            checked = check_message(body, 0, received_at, type_hint=kind, raw=raw)
        return CheckedRequest(
            _body_key(body),
            [checked] if isinstance(checked, Accepted) else [],
            [checked] if isinstance(checked, Rejected) else [],
        )
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
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    for i, m in enumerate(batch):
        # analytics.js puts the write key in every message of a batch too: not kept either
        checked = check_message(_without_key(m), i, received_at, batch_sent_at=sent_at)
        if isinstance(checked, Accepted):
            accepted.append(checked)
        else:
            rejected.append(checked)
    return CheckedRequest(_body_key(body), accepted, rejected)


def check_request_columns(
    raw: bytes, content_encoding: str | None, kind: str | None, received_at: datetime
) -> CheckedColumns:
    """`check_request` for a worker process."""
    r = check_request(raw, content_encoding, kind, received_at)
    a = r.accepted
    return CheckedColumns(
        r.write_key,
        [m.payload for m in a],
        [m.meta for m in a],
        [m.message_id for m in a],
        [m.type for m in a],
        r.rejected,
    )
