"""Group commit: requests that arrive while a commit is running share the next one.

A 2xx may only be sent once a request's messages are durably stored. One writer thread takes
*everything* queued, drops the message ids it has seen lately, appends the group to the
journal as one frame and syncs it (`journal.py`, ~0.3 ms), then answers every waiting request
and hands the frame to the loader (`loader.py`), which lands frames in DuckDB in large
transactions. Under load the groups grow by themselves; when idle a request is committed
alone at once, so there is no timer to tune.

Duplicates are answered from memory: a message id among the last `RECENT_IDS` of its source
is a duplicate (nothing stored). An id older than that, sent again, is answered as stored —
and the loader's primary key on `collected_ids` still stores it once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from onefold.collect.journal import JOURNAL_DIR, Frame, Journal
from onefold.collect.loader import LOAD_EVERY_SECONDS, Loader
from onefold.collect.messages import Accepted, Rejected
from onefold.collect.store import (
    MESSAGE_SCHEMA,
    RECENT_IDS,
    RecentIds,
    messages_table,
    read_position,
    rejects_table,
)
from onefold.config.mappings import SourceMapping
from onefold.engine.base import Engine

log = logging.getLogger("onefold.collect")

#: Most messages one group takes; the rest wait for the next.
MAX_GROUP_MESSAGES = 50_000
#: Acknowledged messages not yet landed past which requests are refused (503, SDKs retry):
#: the loader is that far behind, and what it has not landed is held in memory too.
MAX_BACKLOG_MESSAGES = 150_000


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
    """The one thread that makes collected messages durable; `submit` from any thread."""

    def __init__(
        self,
        engine: Engine,
        root: Path,
        on_commit: Callable[[], None] | None = None,
        max_queue: int = 10_000,
        recent_ids: int = RECENT_IDS,
        load_every: float = LOAD_EVERY_SECONDS,
    ) -> None:
        """`root`: the workspace (its journal is `root/journal`); `on_commit` is called after
        each group is made durable (`loader.flush` lands it in the database at once)."""
        self._engine = engine
        self._journal = Journal(root / JOURNAL_DIR)
        self._on_commit = on_commit or (lambda: None)
        self.loader = Loader(engine, self._journal, every=load_every)
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._loop, name="onefold-commit", daemon=True)
        self.commits = 0
        self.messages = 0
        self._recent = RecentIds(recent_ids)

    def start(self) -> None:
        self._journal.open_after(read_position(self._engine))
        self.loader.start()
        self._thread.start()

    def stop(self) -> None:
        """Answer what is queued, land everything, and remove the journal it no longer needs."""
        self._queue.put(None)
        self._thread.join()
        self.loader.stop()
        idle = self.loader.idle
        if idle:  # everything landed: the journal has nothing the database lacks
            self._journal.release_all()
        self._journal.close()

    def submit(
        self,
        mapping: SourceMapping,
        accepted: list[Accepted],
        rejected: list[Rejected],
        request_id: str,
    ) -> Future[Delivery]:
        """Queue a request's messages; the future resolves once they are durable.

        Raises `queue.Full` when the writer or the loader is this far behind: the caller
        answers 503 and the SDK retries later.
        """
        if self.loader.backlog > MAX_BACKLOG_MESSAGES:
            raise queue.Full
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
        fresh: dict[str, dict[str, Accepted]] = {}
        answers: list[tuple[_Pending, list[str]]] = []
        for p in group:
            name = p.mapping.name
            mine = fresh.setdefault(name, {})
            dupes = []
            for m in p.accepted:
                if m.message_id in mine or (name, m.message_id) in self._recent:
                    dupes.append(m.message_id)
                else:
                    mine[m.message_id] = m
            answers.append((p, dupes))
        try:
            tables = [messages_table(name, list(ms.values())) for name, ms in fresh.items() if ms]
            frame = Frame(
                pa.concat_tables(tables) if tables else MESSAGE_SCHEMA.empty_table(),
                rejects_table(
                    [(p.mapping.name, p.request_id, r) for p in group for r in p.rejected]
                ),
            )
            anything = frame.messages.num_rows or frame.rejects.num_rows
            position = self._journal.append(frame) if anything else None
        except Exception as exc:  # nothing was made durable: every request may retry
            log.exception("journal write of %d requests failed", len(group))
            for p in group:
                p.future.set_exception(exc)
            return
        for name, ms in fresh.items():
            self._recent.add(name, ms)
        if position is not None:
            self.loader.put(position, frame)
        self.commits += 1
        self.messages += frame.messages.num_rows
        for p, dupes in answers:
            p.future.set_result(
                Delivery(len(p.accepted) - len(dupes), tuple(dupes), tuple(p.rejected))
            )
        if position is not None:
            try:
                self._on_commit()
            except Exception:  # the group stands and is answered; the listener's is its own
                log.exception("after-commit notification failed")
