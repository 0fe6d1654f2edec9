"""Writing collected messages: the statements one group commit runs, and nothing else.

The collector has already parsed, validated and keyed every message (`messages.py`), so
nothing here goes through the file-landing path (`ingest.landing`): no staging table, no
JSON re-parse to find the record key, no anti-join against everything landed.

DuckDB statements have a fixed cost of milliseconds whatever their size, and that fixed cost
per commit is what bounds both throughput and the latency of a lone `/v1/track` call. So a
commit runs, per source, three statements over one registered Arrow table: the `loads` row,
the message ids into `collected_ids` (its primary key makes a message id stored once per
source, forever), and the messages into `landed_records`.

The ids go in as a plain INSERT, which costs a third of `ON CONFLICT DO NOTHING RETURNING`.
Retries are caught before SQL by `RecentIds` (the ids of the last commits, in memory); an
older id sent again makes the plain INSERT fail on the key, and the caller runs the group
again with `exact=True`, which claims ids one by one through `ON CONFLICT` — the result is
the same, only slower.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from onefold.collect.messages import Accepted, Rejected
from onefold.engine.base import Engine

_MESSAGES = "_collected_messages"
_REJECTS = "_collected_rejects"
#: Message ids remembered per source (~100 bytes each): minutes of traffic, which is when
#: SDKs retry (Segment itself promises deduplication over ~24 h; the primary key does more).
RECENT_IDS = 200_000


def collected_file(source: str) -> str:
    """What `landed_records.file` and `loads.file` say for messages that came over HTTP."""
    return f"(http) {source}"


class RecentIds:
    """The message ids committed last, per source, oldest forgotten first."""

    def __init__(self, capacity: int = RECENT_IDS) -> None:
        self.capacity = capacity
        # OrderedDict, not dict: deleting a plain dict's first key again and again rescans
        # the deleted slots (50-190 ms an add once full)
        self._ids: dict[str, OrderedDict[str, None]] = {}

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key[1] in self._ids.get(key[0], ())

    def add(self, source: str, ids: Iterable[str]) -> None:
        held = self._ids.setdefault(source, OrderedDict())
        held.update(dict.fromkeys(ids))
        while len(held) > self.capacity:
            held.popitem(last=False)


def store_messages(
    engine: Engine, source: str, messages: Sequence[Accepted], *, exact: bool = False
) -> set[str]:
    """Inside the caller's transaction: land the first of each message id in `messages`;
    returns the ids stored now. Without `exact`, every id must be new to `source` — one it
    holds already raises `ConstraintViolation` (run the transaction again with `exact`)."""
    first: dict[str, Accepted] = {}
    for m in messages:
        first.setdefault(m.message_id, m)  # a retry inside the same group
    if not first:
        return set()
    kept = list(first.values())
    table = pa.table(
        {
            "record_key": pa.array(list(first), pa.string()),
            "payload": pa.array([m.payload for m in kept], pa.binary()).cast(pa.string()),
            "meta": pa.array([m.meta for m in kept], pa.string()),
            "row_number": pa.array(range(1, len(kept) + 1), pa.int64()),
        }
    )
    engine.register(_MESSAGES, table)
    if exact:
        fresh = {
            str(r[0])
            for r in engine.fetchall(
                f"INSERT INTO collected_ids SELECT ?, record_key FROM {_MESSAGES} "
                "ON CONFLICT DO NOTHING RETURNING message_id",
                [source],
            )
        }
        if not fresh:
            return fresh
        if len(fresh) < len(kept):
            ids = pa.array(list(fresh), pa.string())
            table = table.filter(pc.is_in(table["record_key"], ids))
            engine.register(_MESSAGES, table)
    else:
        engine.execute(f"INSERT INTO collected_ids SELECT ?, record_key FROM {_MESSAGES}", [source])
        fresh = set(first)
    now, file = datetime.now(UTC), collected_file(source)
    load_id = int(
        engine.fetchone(
            "INSERT INTO loads VALUES (nextval('load_id_seq'), ?, ?, ?, ?, ?, ?, ?, 0, 'done') "
            "RETURNING load_id",
            [source, file, sum(len(m.payload) for m in kept), now, now, len(kept), len(fresh)],
        )
    )
    engine.execute(
        f"INSERT INTO landed_records SELECT ?, record_key, hash(payload), ?, ?, ?, "
        f"row_number, payload, NULL, meta FROM {_MESSAGES}",
        [source, load_id, now, file],
        step=f"land {file}",
    )
    return fresh


def store_rejects(engine: Engine, rejects: Sequence[tuple[str, str, Rejected]]) -> None:
    """Keep the invalid messages of a group, each as (source, request id, why)."""
    if not rejects:
        return
    table = pa.table(
        {
            "source": [s for s, _, _ in rejects],
            "record_key": pa.array([r.message_id for _, _, r in rejects], pa.string()),
            "file": [f"(http) request {request}" for _, request, _ in rejects],
            "row_number": pa.array([r.index for _, _, r in rejects], pa.int64()),
            "field": [r.field for _, _, r in rejects],
            "raw_value": [r.raw for _, _, r in rejects],
            "reason": [r.reason for _, _, r in rejects],
        }
    )
    engine.register(_REJECTS, table)
    engine.execute(
        "INSERT INTO rejects SELECT 'collect', source, record_key, NULL, file, "
        f"row_number, field, raw_value, 'invalid', reason, ? FROM {_REJECTS}",
        [datetime.now(UTC)],
    )
