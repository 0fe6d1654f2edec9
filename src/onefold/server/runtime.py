"""What a running `onefold serve` holds: the workspace, its writer, resolver and readers.

One process owns the DuckDB file. Inside it each role has its own connection (a
`Workspace.fork`) and so its own transactions:
- the group committer makes collected messages durable in the journal, and its loader lands
  them in the database (the only writer of `landed_records` here);
- the resolver resolves what was landed, incrementally, as soon as a commit is made, and runs
  the CLI commands forwarded to the server (`server.forward`) — one at a time, under one lock,
  because both rewrite the identity and profile tables;
- each API worker thread reads through its own fork and sees the last committed run.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from onefold.background import lower_this_thread
from onefold.collect.committer import GroupCommitter
from onefold.collect.keys import KeyRing
from onefold.config.mappings import SourceMapping
from onefold.errors import WorkspaceError
from onefold.server.checking import Checker
from onefold.workspace import Workspace

#: How stale the collector's view of sources/*.yml may be.
MAPPINGS_REFRESH_SECONDS = 1.0
#: DuckDB's worker threads while serving, unless onefold.yml sets `threads`. DuckDB runs a
#: query on its own pool of threads, which the nice value of the resolver and loader threads
#: (`background.lower_this_thread`) does not reach; with one, a query runs in the thread that
#: asked, so the request path keeps its priority. Measured on 2 cores with real-time
#: resolution on: /v1/batch 17–22k events/s with DuckDB's default (both cores), 20–22k with
#: one; the resolver catches up with a flood more slowly (15–19 s against 11–16 s after 10 s).
SERVING_THREADS = 1
#: The least time from one real-time resolver run's start to the next one's (`onefold serve
#: --resolve-every`). Each run has a fixed cost (tens of statements) and shares two cores with
#: the requests; back to back, runs of a few events took a core from the request path.
RESOLVE_EVERY_SECONDS = 0.25

log = logging.getLogger("onefold.server")


@dataclass
class ResolverStatus:
    """Progress of real-time resolution, for `/health` (and tests waiting on it)."""

    commits_seen: int = 0
    commits_resolved: int = 0
    runs: int = 0
    last_seconds: float = 0.0
    last_error: str | None = None


class Resolver:
    """Resolves incrementally after commits, at most one run per `every` seconds; commits made
    meanwhile share the next run."""

    def __init__(
        self, ws: Workspace, enabled: bool = True, every: float = RESOLVE_EVERY_SECONDS
    ) -> None:
        self.ws = ws
        self.enabled = enabled
        self.every = every
        self.lock = threading.Lock()
        self.status = ResolverStatus()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="onefold-resolve", daemon=True)
        #: lands what was acknowledged so far before a run (`Loader.flush`)
        self.land: Callable[[], bool] = lambda: True

    def start(self) -> None:
        if self.enabled:
            self._thread.start()
            self.notify()  # catch up with what was landed while no server ran

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join()

    def notify(self) -> None:
        """Called by the committer after each durable group."""
        with self._wake:
            self.status.commits_seen += 1
            self._wake.notify()

    def _loop(self) -> None:
        lower_this_thread()  # the requests first: a profile may be ready a little later
        while True:
            with self._wake:
                while (
                    not self._stopping and self.status.commits_resolved >= self.status.commits_seen
                ):
                    self._wake.wait()
                if self._stopping:
                    return
                target = self.status.commits_seen
            started = time.perf_counter()
            try:
                with self.lock:
                    if not self.land():
                        raise TimeoutError("the collected messages were not landed in time")
                    self.ws.resolve(incremental=True)
            except Exception as exc:  # keep serving; the next commit tries again
                log.exception("real-time resolve failed")
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(0.5)
            else:
                self.status.last_error = None
            self.status.runs += 1
            self.status.last_seconds = time.perf_counter() - started
            with self._wake:
                self.status.commits_resolved = max(self.status.commits_resolved, target)
                pause = self.every - (time.perf_counter() - started)
                if pause > 0:
                    self._wake.wait_for(lambda: self._stopping, timeout=pause)


class Runtime:
    """Everything the ASGI app needs, started and stopped with it."""

    def __init__(
        self, root: Path, *, realtime: bool = True, resolve_every: float = RESOLVE_EVERY_SECONDS
    ) -> None:
        self.ws = Workspace(root)
        self.keys = KeyRing(self.ws.fork().engine)
        self.resolver = Resolver(self.ws.fork(), enabled=realtime, every=resolve_every)
        self.committer = GroupCommitter(
            self.ws.fork().engine, self.ws.root, on_commit=self.resolver.notify
        )
        self.resolver.land = self.committer.loader.flush
        self.checker = Checker()
        self._mappings: tuple[float, dict[str, SourceMapping]] = (float("-inf"), {})
        self._readers = threading.local()
        self._forks: list[Workspace] = []
        self._forks_lock = threading.Lock()

    def start(self) -> None:
        if self.ws.config.threads is None:
            self.ws.engine.execute(f"SET threads = {SERVING_THREADS}")
        self.keys.start()
        self.checker.start()
        self.committer.start()
        self.resolver.start()

    def stop(self) -> None:
        self.keys.stop()
        self.checker.stop()
        self.committer.stop()
        self.resolver.stop()
        with self._forks_lock:
            for fork in self._forks:
                fork.close()
        self.ws.close()

    def mapping(self, source: str) -> SourceMapping | None:
        """`source`'s mapping, the sources folder looked at again at most once a second (like
        the keys): checking every mapping file on every request was a third of the CPU of a
        single-message call."""
        checked_at, mappings = self._mappings
        if time.monotonic() - checked_at > MAPPINGS_REFRESH_SECONDS:
            mappings = self.ws.mappings
            self._mappings = (time.monotonic(), mappings)
        return mappings.get(source)

    def reader(self) -> Workspace:
        """This thread's read connection (API handlers run on a pool of worker threads)."""
        ws: Workspace | None = getattr(self._readers, "ws", None)
        if ws is None:
            ws = self.ws.fork()
            self._readers.ws = ws
            with self._forks_lock:
                self._forks.append(ws)
        return ws

    @contextmanager
    def _all_threads(self) -> Iterator[None]:
        """DuckDB's default threads for a forwarded command (a full `resolve` is batch work
        that wants every core), the serving setting again after it."""
        if self.ws.config.threads is not None:
            yield
            return
        self.ws.engine.execute(f"SET threads = {os.cpu_count() or 1}")
        try:
            yield
        finally:
            self.ws.engine.execute(f"SET threads = {SERVING_THREADS}")

    @contextmanager
    def exclusive(self) -> Iterator[Workspace]:
        """The resolver's workspace with real-time resolution paused: for forwarded CLI
        commands, which may rewrite what the resolver writes."""
        with self.resolver.lock:
            if not self.committer.loader.flush():  # what was acknowledged is landed first
                raise WorkspaceError(
                    "the collected messages could not be landed in the database "
                    f"({self.committer.loader.last_error or 'timed out'}); see the server log"
                )
            with self._all_threads():
                yield self.resolver.ws
