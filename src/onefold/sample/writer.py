"""Open, buffered output files: one per source plus the ground truth.

Rows are written the moment they are generated, so memory stays flat however many persons are
asked for. Every write of a record also writes its ground-truth row, which keeps the two in
step by construction.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

_BUF = 1 << 20


@dataclass(frozen=True)
class SourceSpec:
    """A source's file name and, for CSV, its header (None means JSON Lines)."""

    name: str
    file: str
    header: tuple[str, ...] | None
    crlf: bool = False


# fmt: off
SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("crm_contacts", "crm_contacts.csv", (
        "Contact ID", "First Name", "Last Name", "Email", "Mobile", "Birthdate", "Gender",
        "Country", "Customer Number", "Email Opt In", "Created Date", "Last Modified",
    ), crlf=True),
    SourceSpec("shop_orders", "shop_orders.jsonl", None),
    SourceSpec("pos_receipts", "pos_receipts.csv", (
        "receipt_no", "store_id", "ts", "loyalty_card", "phone", "amount", "currency",
    )),
    SourceSpec("loyalty_members", "loyalty_members.csv", (
        "card_no", "member_name", "mobile", "email", "birthday", "join_date", "tier",
    )),
    SourceSpec("web_events", "web_events.jsonl", None),
    SourceSpec("app_events", "app_events.jsonl", None),
    SourceSpec("call_center", "call_center.csv", (
        "call_id", "caller_number", "spoken_name", "started_at", "duration_s", "reason",
    )),
    SourceSpec("email_engagement", "email_engagement.csv", (
        "event_id", "email", "event", "campaign", "occurred_at",
    )),
    SourceSpec("wechat_followers", "wechat_followers.csv", (
        "openid", "unionid", "nickname", "bound_phone", "subscribe_time", "subscribe", "city",
    )),
)
# fmt: on
SOURCE_NAMES: tuple[str, ...] = tuple(s.name for s in SOURCES)


class Sinks:
    """All output handles. Use as a context manager so files are flushed and closed."""

    def __init__(self, out: Path) -> None:
        data = out / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, Path] = {}
        self.counts: dict[str, int] = {s.name: 0 for s in SOURCES}
        self._handles: list[IO[Any]] = []
        self._csv: dict[str, Any] = {}
        self._json: dict[str, IO[bytes]] = {}
        for spec in SOURCES:
            path = data / spec.file
            self.files[spec.name] = path
            if spec.header is None:
                fb = open(path, "wb", buffering=_BUF)
                self._handles.append(fb)
                self._json[spec.name] = fb
            else:
                ft = open(path, "w", encoding="utf-8", newline="", buffering=_BUF)
                self._handles.append(ft)
                w = csv.writer(ft, lineterminator="\r\n" if spec.crlf else "\n")
                w.writerow(spec.header)
                self._csv[spec.name] = w
        self.ground_truth = out / "ground_truth.csv"
        self._gt = open(self.ground_truth, "w", encoding="utf-8", buffering=_BUF)
        self._handles.append(self._gt)
        self._gt.write("source,record_key,person_id\n")

    def row(self, source: str, row: list[str], pid: str) -> None:
        """Write a CSV row whose first column is the record key."""
        self._csv[source].writerow(row)
        self._gt.write(f"{source},{row[0]},{pid}\n")
        self.counts[source] += 1

    def json(self, source: str, obj: dict[str, Any], key: str, pid: str) -> None:
        """Write one JSON Lines record; `key` is its record key."""
        self._json[source].write(orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE))
        self._gt.write(f"{source},{key},{pid}\n")
        self.counts[source] += 1

    def close(self) -> None:
        for h in self._handles:
            h.close()

    def __enter__(self) -> Sinks:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
