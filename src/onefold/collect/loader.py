"""Landing the journal in DuckDB: many acknowledged groups a transaction, off the request path.

The collector answers once a group is in the journal (`journal.py`); this thread moves the
journal into `landed_records` — at most one transaction every `LOAD_EVERY_SECONDS`, so at
500 single-message requests a second DuckDB runs ten commits, not five hundred, and the
real-time resolver's commits hold up no request. Each transaction also moves the journal
position, so a crash replays exactly what was not landed (`recover_journal`).

It also owns the database's upkeep while serving (checkpoints between loads, vacuum in lulls),
since it is the collector's only writer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from onefold.background import lower_this_thread
from onefold.collect.journal import JOURNAL_DIR, Frame, Journal, Position, lock_journal
from onefold.collect.store import (
    read_position,
    store_messages,
    store_rejects,
    write_position,
)
from onefold.engine.base import ConstraintViolation, Engine

log = logging.getLogger("onefold.collect")

#: The least time from one load's start to the next: loads of a few messages each, back to
#: back, would spend a core on DuckDB's fixed cost per commit.
LOAD_EVERY_SECONDS = 0.1
#: Most messages one load takes; the rest wait for the next.
MAX_LOAD_MESSAGES = 100_000
#: Log bytes past which the loader checkpoints as soon as nothing waits to be loaded…
FOLD_IDLE_BYTES = 16 * 1024 * 1024
#: …and past which it checkpoints regardless (bounds the restart replay).
FOLD_BUSY_BYTES = 128 * 1024 * 1024
#: Seconds without a load after which the loader vacuums what its checkpoints left (merges
#: row groups, reclaims deleted rows: the resolver deletes and re-inserts profile rows).
VACUUM_IDLE_SECONDS = 2.0
#: Seconds to wait before retrying a load that failed (the frames stay in the journal).
RETRY_SECONDS = 0.5
#: Failed attempts after which the loader tries the frames one at a time, and then sets a
#: frame the database keeps refusing aside (see `Loader._set_aside`).
MAX_ATTEMPTS = 5
SET_ASIDE_DIR = "set-aside"


def land_frames(engine: Engine, frames: Sequence[tuple[Position, Frame]]) -> dict[str, set[str]]:
    """One transaction: every frame's messages per source, their rejects, and the journal
    position of the last frame. Returns the message ids stored now, per source."""
    messages = pa.concat_tables([f.messages for _, f in frames])
    rejects = pa.concat_tables([f.rejects for _, f in frames])
    sources = sorted(pc.unique(messages["source"]).to_pylist())

    def write(exact: bool) -> dict[str, set[str]]:
        with engine.transaction():
            stored = {
                s: store_messages(
                    engine, s, messages.filter(pc.equal(messages["source"], s)), exact=exact
                ).ids
                for s in sources
            }
            store_rejects(engine, rejects)
            write_position(engine, frames[-1][0])
        return stored

    try:
        return write(exact=False)
    except ConstraintViolation:  # an id landed before: a replay, or a retry past memory
        return write(exact=True)


def recover_journal(engine: Engine, root: Path) -> int:
    """Land what a stopped server acknowledged but did not load; returns the messages landed.

    Run when the workspace opens: frames after the database's journal position are landed,
    then every segment is deleted — unless a collector of this process holds the journal's
    lock (DuckDB lets one process open its file twice), whose own loader lands them.
    """
    journal = Journal(root / JOURNAL_DIR)
    if not journal.segments():
        return 0
    lock = lock_journal(journal.directory)
    if lock is None:  # a collector in this process is writing it: its loader lands it
        return 0
    try:
        return _recover(engine, journal)
    finally:
        os.close(lock)


def _recover(engine: Engine, journal: Journal) -> int:
    landed = 0
    chunk: list[tuple[Position, Frame]] = []
    size = 0
    for position, frame in journal.replay(read_position(engine)):
        chunk.append((position, frame))
        size += frame.messages.num_rows
        if size >= MAX_LOAD_MESSAGES:
            landed += sum(map(len, land_frames(engine, chunk).values()))
            chunk, size = [], 0
    if chunk:
        landed += sum(map(len, land_frames(engine, chunk).values()))
    journal.release_all()
    if landed:
        log.info("landed %d acknowledged messages from the journal", landed)
    return landed


class Loader:
    """The thread that lands journal frames; `put` from the journal's writer."""

    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        every: float = LOAD_EVERY_SECONDS,
    ) -> None:
        self._engine = engine
        self._journal = journal
        self.every = every
        self._pending: deque[tuple[Position, Frame]] = deque()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="onefold-load", daemon=True)
        self._stopping = False
        self._hurry_until = 0  # frames_put a flush() waits for: load them without pausing
        self._unvacuumed = False
        self._failures = 0  # consecutive failed loads of the frames at the head
        self._alone = False  # after MAX_ATTEMPTS failures: a frame a load, to find the bad one
        self.frames_put = 0
        self.frames_loaded = 0
        self.backlog = 0  # messages acknowledged, not yet landed
        self.loads = 0
        self.messages = 0  # messages landed (new to the store)
        self.folds = 0
        self.set_aside = 0  # frames the database refused for good, kept in journal/set-aside
        self.last_error: str | None = None

    def start(self) -> None:
        self._engine.stream_writes()
        self._thread.start()

    def stop(self) -> None:
        """Land everything put so far, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def put(self, position: Position, frame: Frame) -> None:
        with self._cond:
            self._pending.append((position, frame))
            self.frames_put += 1
            self.backlog += frame.messages.num_rows
            self._cond.notify()

    def flush(self, timeout: float = 30.0) -> bool:
        """Land now what was put so far (without the usual pause); False on timeout."""
        with self._cond:
            target = self.frames_put
            self._hurry_until = max(self._hurry_until, target)
            self._cond.notify()
            return (
                self._cond.wait_for(
                    lambda: self.frames_loaded >= target or not self._thread.is_alive(), timeout
                )
                and self.frames_loaded >= target
            )

    def _hurried(self) -> bool:
        return self.frames_loaded < self._hurry_until

    @property
    def idle(self) -> bool:
        """Everything put has been landed."""
        with self._cond:
            return self.frames_loaded == self.frames_put

    def _loop(self) -> None:
        lower_this_thread()  # requests are answered from the journal: loading can wait
        try:
            self._run()
        except Exception as exc:  # say so: flush() and /health must not wait on a ghost
            log.exception("the journal loader stopped")
            self.last_error = f"loader stopped: {type(exc).__name__}: {exc}"
        finally:
            with self._cond:
                self._cond.notify_all()

    def _run(self) -> None:
        last = time.monotonic()  # the first load waits its pause too (unless hurried)
        while True:
            with self._cond:
                if not self._cond.wait_for(
                    lambda: self._pending or self._stopping, VACUUM_IDLE_SECONDS
                ):
                    idle = True
                else:
                    idle = False
                    if not self._pending:
                        return  # stopping, and everything is landed
                    pause = self.every - (time.monotonic() - last)
                    if pause > 0 and not (self._hurried() or self._stopping):
                        self._cond.wait_for(lambda: self._hurried() or self._stopping, pause)
                    batch: list[tuple[Position, Frame]] = []
                    size = 0
                    while self._pending and (
                        not batch or (size < MAX_LOAD_MESSAGES and not self._alone)
                    ):
                        batch.append(self._pending.popleft())
                        size += batch[-1][1].messages.num_rows
            if idle:
                self._vacuum_if_due()
                continue
            last = time.monotonic()
            if not self._load(batch, size):
                if self._stopping:
                    return  # still in the journal: the next open of the workspace lands it
                last = float("-inf")  # _load paused already: retry without the load pause
            try:
                self._maybe_fold()
            except Exception:  # the loader must live on: a failed checkpoint is retried later
                log.exception("checkpoint failed")

    def _load(self, batch: list[tuple[Position, Frame]], size: int) -> bool:
        try:
            stored = land_frames(self._engine, batch)
        except Exception as exc:  # durable in the journal: put back, retry after a pause
            log.exception("loading %d journal frames failed", len(batch))
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._failures += 1
            if self._failures >= MAX_ATTEMPTS:
                if self._alone and self._set_aside(batch):
                    self._alone = False
                    return self._landed(batch, size, {})
                self._alone, self._failures = True, 0
            with self._cond:
                self._pending.extendleft(reversed(batch))
                self._cond.wait_for(lambda: self._stopping, RETRY_SECONDS)
            return False
        return self._landed(batch, size, stored)

    def _set_aside(self, batch: list[tuple[Position, Frame]]) -> bool:
        """One frame the database has refused again and again, alone: keep it in
        `journal/set-aside/` and move the position past it, so that one bad frame does not
        stop collection (the answer to its request was a 200 — it is kept, not dropped).
        If even the position cannot be written, the database itself is failing: False, and
        the frame is retried like any other."""
        [(position, frame)] = batch
        folder = self._journal.directory / SET_ASIDE_DIR
        try:
            folder.mkdir(exist_ok=True)
            path = folder / f"{position.segment:012d}-{position.offset:012d}.frame"
            path.write_bytes(frame.encode())
            with self._engine.transaction():
                write_position(self._engine, position)
        except Exception:
            log.exception("setting a journal frame aside failed")
            return False
        log.error(
            "journal frame ending at %s set aside in %s after %d failed loads: %s",
            position,
            path,
            self._failures,
            self.last_error,
        )
        self.set_aside += 1
        return True

    def _landed(
        self, batch: list[tuple[Position, Frame]], size: int, stored: dict[str, set[str]]
    ) -> bool:
        self._failures = 0
        self.last_error = None
        if not self._pending:
            self._alone = False
        try:
            self._journal.release(batch[-1][0])
        except OSError:  # landed all the same; the next load deletes the segment again
            log.exception("deleting landed journal segments failed")
        with self._cond:
            self.loads += 1
            self.messages += sum(map(len, stored.values()))
            self.frames_loaded += len(batch)
            self.backlog -= size
            self._cond.notify_all()
        return True

    def _maybe_fold(self) -> None:
        """Checkpoint between loads rather than inside one: a checkpoint takes ~0.1 s per
        8 MB of log, and the resolver's commits would wait behind it."""
        size = self._engine.log_bytes()
        if size > FOLD_BUSY_BYTES or (size > FOLD_IDLE_BYTES and not self._pending):
            started = time.perf_counter()
            if self._engine.fold_log():
                self.folds += 1
                self._unvacuumed = True
                log.info("checkpoint of %d MB in %.2f s", size >> 20, time.perf_counter() - started)

    def _vacuum_if_due(self) -> None:
        """Checkpoint with vacuum (merging row groups, reclaiming the rows the resolver
        deleted) once nothing has come for a while: it can take seconds."""
        if not self._unvacuumed:
            return
        try:
            if self._engine.fold_log(vacuum=True):
                self._unvacuumed = False
        except Exception:
            log.exception("vacuum checkpoint failed")
