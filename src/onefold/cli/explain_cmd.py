"""`onefold explain`: why records share a profile, as a readable tree.

Kept in its own module (registered on the main app with `register`) so the command can grow
without touching the rest of the CLI.
"""

from __future__ import annotations

from pathlib import Path

import typer

from onefold.cli.context import console, open_workspace
from onefold.cli.explain_render import render_path, render_profile
from onefold.explain import explain_profile, explain_records

WS = typer.Option(Path("."), "--workspace", "-w", help="workspace folder")
REFS = typer.Argument(
    ...,
    metavar="REF",
    help="PROFILE_ID, or two records SOURCE/RECORD_KEY (split at the first '/')",
    show_default=False,
)


def explain(refs: list[str] = REFS, workspace: Path = WS) -> None:
    """Why records share a profile: `explain PROFILE_ID` shows the evidence that holds it
    together; `explain SOURCE/KEY SOURCE/KEY` the path of links between two records (shared
    identifiers, match weights per comparison), or why there is none."""
    if len(refs) not in (1, 2):
        raise typer.BadParameter(
            f"expected a profile id or two records, got {len(refs)} arguments",
            param_hint="REF",
        )
    if len(refs) == 1 and "/" in refs[0]:
        raise typer.BadParameter(
            f"{refs[0]!r} looks like a record: give two records to see the path between them, "
            f"or a profile id (find it with `onefold profiles search`)",
            param_hint="REF",
        )
    out = console()
    with open_workspace(workspace) as ws:
        if len(refs) == 1:
            out.print(render_profile(explain_profile(ws, refs[0])))
        else:
            out.print(render_path(explain_records(ws, refs[0], refs[1])))


def register(app: typer.Typer) -> None:
    """Add the `explain` command to `app`."""
    app.command("explain")(explain)


__all__ = ["explain", "register"]
