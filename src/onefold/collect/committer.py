"""Group commit: requests that arrive while a commit is running share the next one.

A 2xx may only be sent once a request's messages are committed, and a commit costs a
durable write (DuckDB syncs its write-ahead log). Committing each request alone would cap
throughput at one request per sync; instead one writer thread takes *everything* queued,
lands it in one transaction — messages per source through the ordinary landing stage, with
message ids unique per source, plus the rejects — and only then answers every waiting
request. Under load the groups grow by themselves; when idle a request is committed alone at
once, so there is no timer to tune.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from onefold.collect.messages import Accepted, Rejected
from onefold.config.mappings import SourceMapping
from onefold.engine.base import Engine
from onefold.ingest.landing import land_payloads

log = logging.getLogger("onefold.collect")

#: Most messages one commit takes; the rest wait for the next.
MAX_GROUP_MESSAGES = 50_000


@dataclass(frozen=True)
class Delivery:
    """What happened to one request's messages."""

    stored: int
    duplicates: tuple[str, ...]  # message ids already held (a retry)
    rejected: tuple[Rejected, ...]


@dataclass
class _Pending:
    mapping: SourceMapping
    accepted: list[Accepted]
    rejected: list[Rejected]
    request_id: str
    future: Future[Delivery] = field(default_factory=Future)


class GroupCommitter:
    """The one thread that writes collected messages; `submit` from any thread."""

    def __init__(
        self,
        engine: Engine,
        on_commit: Callable[[], None] | None = None,
        max_queue: int = 10_000,
    ) -> None:
        self._engine = engine
        self._on_commit = on_commit or (lambda: None)
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._loop, name="onefold-commit", daemon=True)
        self.commits = 0
        self.messages = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def submit(
        self,
        mapping: SourceMapping,
        accepted: list[Accepted],
        rejected: list[Rejected],
        request_id: str,
    ) -> Future[Delivery]:
        """Queue a request's messages; the future resolves once they are committed.

        Raises `queue.Full` when the writer is this far behind: the caller answers 503 and
        the SDK retries later.
        """
        pending = _Pending(mapping, accepted, rejected, request_id)
        self._queue.put_nowait(pending)
        return pending.future

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stop = [first], False
            size = len(first.accepted)
            while size < MAX_GROUP_MESSAGES:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                group.append(more)
                size += len(more.accepted)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with self._engine.transaction():
                stored = self._write(group)
        except Exception as exc:  # nothing was committed: every request may retry
            log.exception("commit of %d requests failed", len(group))
            for p in group:
                p.future.set_exception(exc)
            return
        self.commits += 1
        self.messages += sum(len(s) for s in stored.values())
        claimed: dict[str, set[str]] = {}
        for p in group:
            fresh = stored.get(p.mapping.name, set())
            taken = claimed.setdefault(p.mapping.name, set())
            dupes = []
            for m in p.accepted:
                if m.message_id in fresh and m.message_id not in taken:
                    taken.add(m.message_id)
                else:
                    dupes.append(m.message_id)
            p.future.set_result(
                Delivery(len(p.accepted) - len(dupes), tuple(dupes), tuple(p.rejected))
            )
        self._on_commit()

    def _claim(self, source: str, message_ids: list[str]) -> set[str]:
        """The ids not yet held by `source`, now claimed: one primary-key lookup each rather
        than a scan of everything landed (the claim commits or rolls back with the group)."""
        self._engine.register("_collect_ids", pa.table({"message_id": message_ids}))
        try:
            rows = self._engine.fetchall(
                "INSERT INTO collected_ids SELECT ?, message_id FROM _collect_ids "
                "ON CONFLICT DO NOTHING RETURNING message_id",
                [source],
            )
        finally:
            self._engine.unregister("_collect_ids")
        return {str(r[0]) for r in rows}

    def _write(self, group: list[_Pending]) -> dict[str, set[str]]:
        """Inside the transaction: land each source's messages, record the rejects."""
        by_source: dict[str, list[_Pending]] = {}
        for p in group:
            by_source.setdefault(p.mapping.name, []).append(p)
        stored: dict[str, set[str]] = {}
        for name, pendings in by_source.items():
            first: dict[str, Accepted] = {}
            for m in (m for p in pendings for m in p.accepted):
                first.setdefault(m.message_id, m)  # a retry inside the same group
            if not first:
                continue
            fresh = self._claim(name, list(first))
            new = [m for mid, m in first.items() if mid in fresh]
            if new:
                land_payloads(
                    self._engine,
                    pendings[0].mapping,
                    [m.payload for m in new],
                    f"(http) {name}",
                    metas=[m.meta for m in new],
                    known_new=True,
                )
            stored[name] = fresh
        rejects = [(p, r) for p in group for r in p.rejected]
        if rejects:
            now = datetime.now(UTC)
            table = pa.table(
                {
                    "source": [p.mapping.name for p, _ in rejects],
                    "record_key": pa.array([r.message_id for _, r in rejects], pa.string()),
                    "file": [f"(http) request {p.request_id}" for p, _ in rejects],
                    "row_number": pa.array([r.index for _, r in rejects], pa.int64()),
                    "field": [r.field for _, r in rejects],
                    "raw_value": [r.raw for _, r in rejects],
                    "reason": [r.reason for _, r in rejects],
                }
            )
            self._engine.register("_collect_rejects", table)
            try:
                self._engine.execute(
                    "INSERT INTO rejects SELECT 'collect', source, record_key, NULL, file, "
                    "row_number, field, raw_value, 'invalid', reason, ? FROM _collect_rejects",
                    [now],
                )
            finally:
                self._engine.unregister("_collect_rejects")
        return stored
