"""`onefold serve`, `onefold sources add-http` and `onefold keys`: the collection API's CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from onefold.cli.context import console, open_workspace
from onefold.cli.render import fields_table, inventory_table, table
from onefold.collect.http_source import write_http_source
from onefold.collect.keys import create_key, list_keys, revoke_key
from onefold.errors import ConfigError
from onefold.schema import Channel
from onefold.server.runtime import RESOLVE_EVERY_SECONDS

#: How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
GIL_SWITCH_SECONDS = 0.0002

WS = typer.Option(Path("."), "--workspace", "-w", help="workspace folder")

sources_app = typer.Typer(
    help="The data inventory (no sub-command), or add a source.", invoke_without_command=True
)
keys_app = typer.Typer(
    help="API keys: write keys per HTTP source, read keys.", no_args_is_help=True
)


@sources_app.callback()
def sources(
    ctx: typer.Context,
    workspace: Path = WS,
    fields: bool = typer.Option(False, "--fields", help="show per-field quality"),
) -> None:
    """The data inventory: rows, field completeness and validity, rejects, freshness."""
    if ctx.invoked_subcommand is not None:
        return
    with open_workspace(workspace) as ws:
        items = ws.sources()
        console().print(inventory_table(items))
        if fields:
            for s in items:
                console().print(fields_table(s))


@sources_app.command("add-http")
def add_http(
    name: str,
    workspace: Path = WS,
    channel: str = typer.Option("online", help="online or offline"),
    phone_region: list[str] = typer.Option(
        ["US"], "--phone-region", help="region(s) for phones without + (repeat)"
    ),
) -> None:
    """Create a source collected by `onefold serve` and print its write key."""
    if channel not in ("online", "offline"):
        raise ConfigError(f"--channel {channel!r}: expected online or offline")
    chan: Channel = "online" if channel == "online" else "offline"
    with open_workspace(workspace) as ws:
        path = write_http_source(
            ws.root / ws.config.sources_dir, name, channel=chan, regions=tuple(phone_region)
        )
        _ = ws.mappings  # validated with the others now, not at the first request
        key, secret = create_key(ws.engine, "write", name, note="created with the source")
    out = console()
    out.print(f"[green]source {name}[/] → {path}")
    out.print(f"write key ({key.key_id}), shown once — point an SDK at `onefold serve`:")
    out.print(secret, highlight=False, soft_wrap=True)


@keys_app.command("create")
def keys_create(
    workspace: Path = WS,
    read: bool = typer.Option(False, "--read", help="a Profile API key"),
    write: str | None = typer.Option(None, "--write", help="a write key for this HTTP source"),
    note: str | None = typer.Option(None, help="what the key is for"),
) -> None:
    """Create a key and print it (only its hash is kept)."""
    if read == (write is not None):
        raise typer.BadParameter("give either --read or --write SOURCE", param_hint="--read")
    with open_workspace(workspace) as ws:
        if write is not None:
            mapping = ws.mappings.get(write)
            if mapping is None or not mapping.collected:
                raise ConfigError(
                    f"{write!r} is not an HTTP source; create one with "
                    f"`onefold sources add-http {write}`"
                )
            key, secret = create_key(ws.engine, "write", write, note)
        else:
            key, secret = create_key(ws.engine, "read", None, note)
    console().print(f"{key.kind} key {key.key_id}, shown once:")
    console().print(secret, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(workspace: Path = WS) -> None:
    """Every key: kind, source, created, revoked (never the key itself)."""
    with open_workspace(workspace) as ws:
        rows = [k.__dict__ for k in list_keys(ws.engine)]
    console().print(
        table(
            rows,
            title="keys",
            columns=["key_id", "kind", "source", "created_at", "revoked_at", "note"],
        )
    )


@keys_app.command("revoke")
def keys_revoke(key_id: str, workspace: Path = WS) -> None:
    """Revoke a key: requests with it are refused from the next second on."""
    with open_workspace(workspace) as ws:
        key = revoke_key(ws.engine, key_id)
    console().print(f"revoked {key.kind} key {key.key_id}")


def serve(
    workspace: Path = WS,
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8787, help="port"),
    realtime: bool = typer.Option(
        True, "--realtime/--no-realtime", help="resolve identities as messages arrive"
    ),
    resolve_every: float = typer.Option(
        RESOLVE_EVERY_SECONDS,
        min=0.0,
        help="seconds from one real-time resolver run's start to the next, at least",
    ),
) -> None:
    """Serve the Segment-compatible collection API and the Profile API."""
    import uvicorn

    from onefold.server.app import create_app
    from onefold.server.forward import ServerInfo

    root = workspace.resolve()
    info = ServerInfo.new(f"http://{host}:{port}")
    # takes the database's lock
    app = create_app(root, realtime=realtime, info=info, resolve_every=resolve_every)
    console().print(
        f"onefold serving {root} at {info.url}  (OpenAPI schema {info.url}/openapi.json; "
        "the CLI keeps working: commands are forwarded here)"
    )
    # The event loop (validating requests) and the group-commit thread share the GIL, and the
    # committer wants it back after each DuckDB statement: at Python's default 5 ms switch
    # interval a busy loop made each of those waits up to 5 ms (a 20 ms commit took 200 ms
    # beside a CPU-bound thread; at 0.2 ms, 26 ms).
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, http="httptools")


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")
    app.add_typer(keys_app, name="keys")
    app.command("serve")(serve)
