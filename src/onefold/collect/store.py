"""Landing collected messages in DuckDB: the statements one loader transaction runs.

The collector has already parsed, validated and keyed every message (`messages.py`), and the
journal holds them durably (`journal.py`), so nothing here goes through the file-landing path
(`ingest.landing`): no staging table, no JSON re-parse to find the record key, no anti-join
against everything landed.

DuckDB statements have a fixed cost of milliseconds whatever their size, so the loader lands
many acknowledged groups at once, per source three statements over one registered Arrow
table: the `loads` row, the message ids into `collected_ids` (its primary key makes a message
id stored once per source, forever), and the messages into `landed_records`.

The ids go in as a plain INSERT, which costs a third of `ON CONFLICT DO NOTHING RETURNING`.
Retries are caught before the journal by `RecentIds` (the ids of the last groups, in memory);
an older id sent again — or a journal frame replayed after a crash — makes the plain INSERT
fail on the key, and the caller runs the transaction again with `exact=True`, which claims
ids one by one through `ON CONFLICT`: slower, and still each message once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from onefold.collect.journal import Position
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


MESSAGE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("record_key", pa.string()),
        ("payload", pa.string()),
        ("meta", pa.string()),
    ]
)
REJECT_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("request_id", pa.string()),
        ("row_number", pa.int64()),
        ("record_key", pa.string()),
        ("field", pa.string()),
        ("raw_value", pa.string()),
        ("reason", pa.string()),
    ]
)


def messages_table(source: str, messages: Sequence[Accepted]) -> pa.Table:
    """A source's checked messages as the journal and `store_messages` take them."""
    return pa.table(
        {
            "source": pa.array([source] * len(messages), pa.string()),
            "record_key": pa.array([m.message_id for m in messages], pa.string()),
            # the collector checked the bytes are JSON, so UTF-8: the cast only relabels
            "payload": pa.array([m.payload for m in messages], pa.binary()).cast(pa.string()),
            "meta": pa.array([m.meta for m in messages], pa.string()),
        },
        schema=MESSAGE_SCHEMA,
    )


def rejects_table(rejects: Sequence[tuple[str, str, Rejected]]) -> pa.Table:
    """Invalid messages, each as (source, request id, why)."""
    return pa.table(
        {
            "source": [s for s, _, _ in rejects],
            "request_id": [q for _, q, _ in rejects],
            "row_number": [r.index for _, _, r in rejects],
            "record_key": [r.message_id for _, _, r in rejects],
            "field": [r.field for _, _, r in rejects],
            "raw_value": [r.raw for _, _, r in rejects],
            "reason": [r.reason for _, _, r in rejects],
        },
        schema=REJECT_SCHEMA,
    )


class Stored(NamedTuple):
    """What `store_messages` landed: its load (None when every id was held already) and the
    message ids stored now."""

    load_id: int | None
    ids: set[str]


def store_messages(engine: Engine, source: str, table: pa.Table, *, exact: bool = False) -> Stored:
    """Inside the caller's transaction: land the first row of each message id in `table` (one
    source's rows of `MESSAGE_SCHEMA`). Without `exact`, every id must be new to `source` —
    one it holds already raises `ConstraintViolation` (run the transaction again with
    `exact`)."""
    ids = table["record_key"].to_pylist()
    first = dict.fromkeys(ids)
    if len(first) < len(ids):  # one id in two frames of a load: keep its first row
        position = {mid: i for i, mid in reversed(list(enumerate(ids)))}
        table = table.take(pa.array(sorted(position.values()), pa.int64()))
    if not first:
        return Stored(None, set())
    table = table.append_column("row_number", pa.array(range(1, table.num_rows + 1), pa.int64()))
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
            return Stored(None, fresh)
        if len(fresh) < len(first):
            table = table.filter(pc.is_in(table["record_key"], pa.array(list(fresh), pa.string())))
            engine.register(_MESSAGES, table)
    else:
        engine.execute(f"INSERT INTO collected_ids SELECT ?, record_key FROM {_MESSAGES}", [source])
        fresh = set(first)
    now, file = datetime.now(UTC), collected_file(source)
    payload_bytes = pc.sum(pc.binary_length(table["payload"])).as_py() or 0
    load_id = int(
        engine.fetchone(
            "INSERT INTO loads VALUES (nextval('load_id_seq'), ?, ?, ?, ?, ?, ?, ?, 0, 'done') "
            "RETURNING load_id",
            [source, file, payload_bytes, now, now, len(first), len(fresh)],
        )
    )
    engine.execute(
        f"INSERT INTO landed_records SELECT ?, record_key, hash(payload), ?, ?, ?, "
        f"row_number, payload, NULL, meta FROM {_MESSAGES}",
        [source, load_id, now, file],
        step=f"land {file}",
    )
    return Stored(load_id, fresh)


def store_rejects(engine: Engine, table: pa.Table) -> None:
    """Keep the invalid messages (`REJECT_SCHEMA` rows): the file names their request."""
    if not table.num_rows:
        return
    engine.register(_REJECTS, table)
    engine.execute(
        "INSERT INTO rejects SELECT 'collect', source, record_key, NULL, "
        "'(http) request ' || request_id, row_number, field, raw_value, 'invalid', reason, ? "
        f"FROM {_REJECTS}",
        [datetime.now(UTC)],
    )


def read_position(engine: Engine) -> Position:
    """How far the journal has been landed (moved in the same transaction as the landing)."""
    segment, offset = engine.fetchall("SELECT segment, byte_offset FROM journal_position")[0]
    return Position(int(segment), int(offset))


def write_position(engine: Engine, position: Position) -> None:
    engine.execute(
        "UPDATE journal_position SET segment = ?, byte_offset = ?",
        [position.segment, position.offset],
    )
