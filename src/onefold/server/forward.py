"""The CLI and a running server on one workspace: commands are forwarded to the server.

While it runs, `onefold serve` writes `.onefold-server.json` in the workspace (its URL, its
pid and a random admin token; readable by the owner only) and removes it on shutdown. A CLI
command that finds the database locked and that file present posts its command line to
`POST /admin/cli` with the token; the server runs the same Typer command on its own
connection — with real-time resolution paused, since commands such as `resolve` or `unmerge`
rewrite the tables it writes — and returns the output and exit code. So `onefold resolve`,
`onefold keys create`, `onefold explain` … behave the same whether a server is up or not.
"""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from onefold.errors import OnefoldError, TransientError
from onefold.workspace import Workspace

SERVER_FILE = ".onefold-server.json"


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int
    token: str

    @classmethod
    def new(cls, url: str) -> ServerInfo:
        """This process serving at `url`, with a fresh admin token."""
        return cls(url, os.getpid(), secrets.token_urlsafe(32))


def announce(root: Path, info: ServerInfo) -> None:
    """Write the server file, readable by its owner only (the token runs any command)."""
    path = root / SERVER_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(info.__dict__))


def withdraw(root: Path, info: ServerInfo) -> None:
    """Remove the server file if it is still ours."""
    current = running_server(root, check_pid=False)
    if current is not None and current.token == info.token:
        (root / SERVER_FILE).unlink(missing_ok=True)


def running_server(root: Path, *, check_pid: bool = True) -> ServerInfo | None:
    """The server announced in `root`, if its process is alive."""
    try:
        data = orjson.loads((root.resolve() / SERVER_FILE).read_bytes())
        info = ServerInfo(str(data["url"]), int(data["pid"]), str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if check_pid:
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return None  # killed without cleaning up (SIGKILL): the file is stale
        except PermissionError:
            pass
    return info


def forward(url: str, token: str, argv: list[str], width: int, color: bool) -> tuple[int, str]:
    """Run `argv` in the server; returns its exit code and output."""
    import httpx

    try:
        response = httpx.post(
            url.rstrip("/") + "/admin/cli",
            json={"argv": argv, "width": width, "color": color},
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(10.0, read=None),  # a full resolve may take a while
        )
    except httpx.HTTPError as exc:
        raise TransientError(
            f"the workspace is held by the server at {url}, which did not answer ({exc}); "
            "stop it or wait for it"
        ) from exc
    if response.status_code != 200:
        raise TransientError(f"the server at {url} refused the command: {response.text}")
    body: dict[str, Any] = response.json()
    return int(body["exit_code"]), str(body["output"])


def run_forwarded(ws: Workspace, argv: list[str], width: int, color: bool) -> tuple[int, str]:
    """Inside the server: run one CLI command line on `ws`, capturing what it prints."""
    from onefold.cli import context
    from onefold.cli.main import app

    buffer = io.StringIO()
    out = Console(file=buffer, width=max(40, min(width, 300)), force_terminal=color)
    code = 0
    with context.served(ws, out):
        try:
            result = app(argv, standalone_mode=False, prog_name="onefold")
            code = result if isinstance(result, int) else 0  # typer.Exit(n) returns n here
        except OnefoldError as exc:
            out.print(f"[bold red]error:[/] {exc}")
            code = 1
        except Exception as exc:  # click usage errors carry their exit code
            exit_code = getattr(exc, "exit_code", None)
            if exit_code is None:
                raise
            code = int(exit_code)
            message = getattr(exc, "format_message", None)
            out.print(f"error: {message() if message else exc}")
    return code, buffer.getvalue()
