"""A real `onefold serve` in a subprocess on 127.0.0.1, for tests that need the server.

Each server gets a workspace with one HTTP source (`web`), its write key and a read key,
and is waited for (bounded) until `/health` answers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from onefold import Workspace
from onefold.collect.http_source import write_http_source
from onefold.collect.keys import create_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Keys:
    write: str
    read: str
    write_id: str


def prepare_workspace(root: Path, source: str = "web", regions: tuple[str, ...] = ("US",)) -> Keys:
    """A fresh workspace with an HTTP source; returns its write key and a read key."""
    with Workspace.init(root, "live") as ws:
        write_http_source(ws.root / "sources", source, regions=regions)
        wkey, write = create_key(ws.engine, "write", source)
        _, read = create_key(ws.engine, "read")
    return Keys(write, read, wkey.key_id)


@dataclass
class LiveServer:
    root: Path
    port: int
    log: Path
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LiveServer:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "onefold.cli",
                    "serve",
                    "-w",
                    str(self.root),
                    "--port",
                    str(self.port),
                    *self.extra_args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start in {timeout}s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def children(self) -> list[int]:
        """The server's child processes (its checking worker, multiprocessing's tracker)."""
        assert self.proc is not None
        found: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            found += [int(c) for c in task.read_text().split()]
        return found

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(self.url + "/health", timeout=5).json()
        return body

    def wait_resolved(self, timeout: float = 30.0) -> float:
        """Seconds until every commit so far has been resolved (bounded by `timeout`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            r = self.health()["resolver"]
            if r["commits_resolved"] >= r["commits_seen"] and r["commits_seen"] > 0:
                if r["last_error"]:
                    raise AssertionError(f"real-time resolve failed: {r['last_error']}")
                return time.monotonic() - started
            time.sleep(0.02)
        raise AssertionError(f"not resolved within {timeout}s: {self.health()}")


def poll(fn: Callable[[], Any], timeout: float = 10.0, every: float = 0.05) -> Any:
    """Call `fn` until it returns something truthy (bounded); returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)
