"""Group commit: requests that arrive while a commit is running share the next one.

A 2xx may only be sent once a request's messages are committed, and a commit costs a
durable write (DuckDB syncs its write-ahead log). Committing each request alone would cap
throughput at one request per sync; instead one writer thread takes *everything* queued,
lands it in one transaction — messages per source with message ids unique per source, plus
the rejects (`collect.store`) — and only then answers every waiting
request. Under load the groups grow by themselves; when idle a request is committed alone at
once, so there is no timer to tune.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from onefold.collect.messages import Accepted, Rejected
from onefold.collect.store import RECENT_IDS, RecentIds, store_messages, store_rejects
from onefold.config.mappings import SourceMapping
from onefold.engine.base import ConstraintViolation, Engine

log = logging.getLogger("onefold.collect")

#: Most messages one commit takes; the rest wait for the next.
MAX_GROUP_MESSAGES = 50_000
#: Log bytes past which the writer checkpoints as soon as no request is waiting…
FOLD_IDLE_BYTES = 16 * 1024 * 1024
#: …and past which it checkpoints even with requests waiting (bounds the restart replay).
FOLD_BUSY_BYTES = 128 * 1024 * 1024
#: Seconds without a request after which the writer vacuums what its checkpoints left
#: (merges row groups, reclaims deleted rows: the resolver deletes and re-inserts profile
#: rows) — too slow to do while requests wait.
VACUUM_IDLE_SECONDS = 2.0


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
        recent_ids: int = RECENT_IDS,
    ) -> None:
        self._engine = engine
        self._on_commit = on_commit or (lambda: None)
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._loop, name="onefold-commit", daemon=True)
        self.commits = 0
        self.messages = 0
        self.folds = 0
        self._unvacuumed = False
        self._recent = RecentIds(recent_ids)

    def start(self) -> None:
        self._engine.stream_writes()
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
            try:
                first = self._queue.get(timeout=VACUUM_IDLE_SECONDS)
            except queue.Empty:  # a lull: the time to compact what the folds left
                self._vacuum_if_due()
                continue
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
            try:
                self._maybe_fold()
            except Exception:  # the writer must live on: a failed checkpoint is retried later
                log.exception("checkpoint failed")

    def _maybe_fold(self) -> None:
        """Checkpoint between commits rather than inside one: a checkpoint takes ~0.1 s per
        8 MB of log, and inside a commit every request of the group would wait for it."""
        size = self._engine.log_bytes()
        if size > FOLD_BUSY_BYTES or (size > FOLD_IDLE_BYTES and self._queue.empty()):
            started = time.perf_counter()
            if self._engine.fold_log():
                self.folds += 1
                self._unvacuumed = True
                log.info("checkpoint of %d MB in %.2f s", size >> 20, time.perf_counter() - started)

    def _vacuum_if_due(self) -> None:
        """Checkpoint with vacuum (merging row groups, reclaiming the rows the resolver
        deleted) once no request has come for a while: it can take seconds."""
        if not self._unvacuumed:
            return
        try:
            if self._engine.fold_log(vacuum=True):
                self._unvacuumed = False
        except Exception:
            log.exception("vacuum checkpoint failed")

    def _commit(self, group: list[_Pending]) -> None:
        by_source: dict[str, list[Accepted]] = {}
        for p in group:
            name = p.mapping.name
            unseen = [m for m in p.accepted if (name, m.message_id) not in self._recent]
            by_source.setdefault(name, []).extend(unseen)
        rejects = [(p.mapping.name, p.request_id, r) for p in group for r in p.rejected]
        try:
            try:
                stored = self._write(by_source, rejects, exact=False)
            except ConstraintViolation:  # an id older than the recent ones, sent again
                stored = self._write(by_source, rejects, exact=True)
        except Exception as exc:  # nothing was committed: every request may retry
            log.exception("commit of %d requests failed", len(group))
            for p in group:
                p.future.set_exception(exc)
            return
        self.commits += 1
        self.messages += sum(len(s) for s in stored.values())
        for name, fresh in stored.items():
            self._recent.add(name, fresh)
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
        try:
            self._on_commit()
        except Exception:  # the commit stands and is answered; the listener's problem is its own
            log.exception("after-commit notification failed")

    def _write(
        self,
        by_source: dict[str, list[Accepted]],
        rejects: list[tuple[str, str, Rejected]],
        *,
        exact: bool,
    ) -> dict[str, set[str]]:
        """One transaction: each source's new messages, then the group's rejects."""
        with self._engine.transaction():
            stored = {
                name: store_messages(self._engine, name, ms, exact=exact)
                for name, ms in by_source.items()
            }
            store_rejects(self._engine, rejects)
        return stored
