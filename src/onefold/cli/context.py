"""Where a CLI command gets its workspace and console: on this machine, or inside the server.

DuckDB lets one process at a time open a database file for writing. While `onefold serve`
holds a workspace, a CLI command in another process cannot open it; instead the command
line is sent to the server (`onefold.server.forward`), which runs the very same command on
its own connection and sends back what it printed. Commands call `open_workspace` and
`console` rather than `Workspace(...)` and `Console()`, so that they run unchanged in both
places.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from rich.console import Console

from onefold.errors import OnefoldError, TransientError
from onefold.workspace import Workspace

_served: Workspace | None = None
_console: Console | None = None


class HeldByServer(OnefoldError):
    """The workspace is open in a running `onefold serve`: forward the command to it."""

    def __init__(self, root: Path, url: str, token: str) -> None:
        super().__init__(f"{root} is held by the server at {url}")
        self.root, self.url, self.token = root, url, token


def console() -> Console:
    """The console this command prints to (created per call: it picks up the terminal)."""
    return _console or Console()


def open_workspace(path: Path) -> AbstractContextManager[Workspace]:
    if _served is not None:
        return nullcontext(_served)  # the server's connection: not ours to close
    try:
        return Workspace(path)
    except TransientError:
        from onefold.server.forward import running_server

        info = running_server(Path(path))
        if info is None:
            raise
        raise HeldByServer(Path(path).resolve(), info.url, info.token) from None


@contextmanager
def served(ws: Workspace, out: Console) -> Iterator[None]:
    """Run commands on `ws`, printing to `out` (inside the server, one command at a time)."""
    global _served, _console
    before = _served, _console
    _served, _console = ws, out
    try:
        yield
    finally:
        _served, _console = before
