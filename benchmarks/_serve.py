"""Shared by the server benchmarks: a real `onefold serve` subprocess, percentiles, CPU time.

The server runs as `python -m onefold.cli serve` on 127.0.0.1 and a free port, its output in
a log file; `start` waits (bounded) for `/health`. CPU time is read from /proc for the
server (all its threads) and from getrusage for the load generator, so each phase can say
how much of the 2 cores each side used.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process so far: the load generator's cost."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def percentiles(seconds: list[float], prefix: str = "") -> dict[str, float]:
    """p50 / p99 / max of latencies given in seconds, as milliseconds."""
    ms = sorted(x * 1000 for x in seconds)
    if not ms:
        return {f"{prefix}p50_ms": 0.0, f"{prefix}p99_ms": 0.0, f"{prefix}max_ms": 0.0}
    return {
        f"{prefix}p50_ms": round(ms[len(ms) // 2], 2),
        f"{prefix}p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        f"{prefix}max_ms": round(ms[-1], 2),
    }


@dataclass
class Server:
    """`onefold serve` over the workspace at `root`, in its own process."""

    root: Path
    log: Path
    extra_args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: one client for /health polls: a new httpx client builds an SSL context (~10 ms CPU)
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10), repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Server:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-m", "onefold.cli", "serve", "-w", str(self.root)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*argv, "--port", str(self.port), *self.extra_args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if self._http.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout}s: {self.log.read_text()}")

    def stop(self) -> int | None:
        """SIGTERM and wait (the committer drains its queue); returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = self._http.get(self.url + "/health").json()
        return body

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system, every thread) the server and its live child processes
        (the checking worker) have used so far."""
        return sum(_process_cpu(pid) for pid in (self.pid, *_children(self.pid)))

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in task.read_text().split()]
    return found


def machine_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy (every process, every core), and the
    seconds stolen by the hypervisor (other virtual machines on the host)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(v[:7]) - v[3] - v[4]  # user … softirq, less idle and iowait; guest is in user
    return busy / _TICKS, v[7] / _TICKS


@dataclass
class CpuMeter:
    """CPU used over one phase, as cores (CPU s / wall s): by the server, by this process (the
    load generator), by every other process, and stolen by the hypervisor (`steal`: the
    cores are shared with other virtual machines, and what they take is not ours)."""

    server: Server
    _t: float = 0.0
    _server: float = 0.0
    _self: float = 0.0
    _machine: tuple[float, float] = (0.0, 0.0)
    server_cores: float = 0.0
    client_cores: float = 0.0
    other_cores: float = 0.0
    steal_cores: float = 0.0

    def __enter__(self) -> CpuMeter:
        self._t, self._server, self._self = (
            time.perf_counter(),
            self.server.cpu_seconds(),
            self_cpu_seconds(),
        )
        self._machine = machine_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t
        self.server_cores = round((self.server.cpu_seconds() - self._server) / wall, 2)
        self.client_cores = round((self_cpu_seconds() - self._self) / wall, 2)
        busy, steal = machine_seconds()
        machine = (busy - self._machine[0]) / wall
        self.other_cores = round(max(0.0, machine - self.server_cores - self.client_cores), 2)
        self.steal_cores = round((steal - self._machine[1]) / wall, 2)


class PySpy:
    """`py-spy record` on the server for one phase, when asked for (`--py-spy DIR`)."""

    def __init__(self, out_dir: Path | None, server: Server, name: str, seconds: float) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        if out_dir is None:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        exe = Path(sys.executable).with_name("py-spy")
        self.proc = subprocess.Popen(
            [
                str(exe if exe.exists() else "py-spy"),
                "record",
                "--pid",
                str(server.pid),
                "--duration",
                str(max(1, int(seconds))),
                "--rate",
                "200",
                "--threads",
                "--format",
                "raw",
                "--output",
                str(out_dir / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(out_dir / f"{name}.log").open("wb"),
        )

    def wait(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait(10)
