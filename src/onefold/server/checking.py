"""Where a request's messages are checked: large batches in a worker process, the rest here.

Checking and stamping a message is ~20 µs of Python; on the event loop's thread that capped
`/v1/batch` at one core's worth while the other core idled (the writer spends its time in
DuckDB, outside the GIL). A batch over `POOL_MIN_BYTES` is checked in a worker process and
comes back as columns (1.3 µs a message to unpickle); single messages stay on the loop,
where the round trip would cost more than the work.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from onefold.collect.requests import CheckedRequest, check_request, check_request_columns

log = logging.getLogger("onefold.server")

#: Request bodies at least this large are checked in the worker (~25 messages).
POOL_MIN_BYTES = 16 * 1024
#: Worker processes: on 2 cores, one beside the event loop and DuckDB's threads.
WORKERS = 1
#: How often a worker checks that the server that started it is still there.
PARENT_CHECK_SECONDS = 1.0


def _warm() -> None:
    """Run in the worker at start, so that the first batch does not pay for the imports."""


def _exit_with(parent: int) -> None:
    """The worker's initializer: exit once the server is gone. A SIGKILLed server runs no
    shutdown, and its worker would otherwise live on, orphaned."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="onefold-parent-watch", daemon=True).start()


class Checker:
    """Checks requests, in the worker pool when it is worth it."""

    def __init__(self, workers: int = WORKERS) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self._workers > 0:
            # spawn, not fork: the server process holds DuckDB and threads by now
            context = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(
                self._workers, mp_context=context, initializer=_exit_with, initargs=(os.getpid(),)
            )
            try:
                pool.submit(_warm).result(timeout=60)
            except Exception:  # no worker (a process limit, a broken install): check in place
                log.exception("the checking worker did not start; checking on the event loop")
                pool.shutdown(wait=False, cancel_futures=True)
                return
            self._pool = pool

    @property
    def pooled(self) -> bool:
        """Whether large batches go to the worker (False before start or after it died)."""
        return self._pool is not None

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def check(
        self, raw: bytes, content_encoding: str | None, kind: str | None, received_at: datetime
    ) -> CheckedRequest:
        pool = self._pool
        if pool is None or kind is not None or len(raw) < POOL_MIN_BYTES:
            return check_request(raw, content_encoding, kind, received_at)
        loop = asyncio.get_running_loop()
        try:
            columns = await loop.run_in_executor(
                pool, check_request_columns, raw, content_encoding, kind, received_at
            )
        except BrokenProcessPool:  # the worker died (killed, out of memory): check here
            log.exception("the checking worker died; checking on the event loop from now on")
            self._pool = None
            return check_request(raw, content_encoding, kind, received_at)
        return columns.request()
