"""The `onefold` command: a thin Typer layer over `onefold.Workspace`.

Failures print one red line that says what to fix and exit 1; set ONEFOLD_DEBUG=1 for the
traceback.
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal

import orjson
import typer

from onefold.cli.collect_cmds import register as register_collect
from onefold.cli.context import HeldByServer, console, open_workspace
from onefold.cli.explain_cmd import register as register_explain
from onefold.cli.progress import progress_bar
from onefold.cli.render import fmt, print_profile, table
from onefold.errors import OnefoldError
from onefold.progress import accumulate
from onefold.workspace import Workspace

app = typer.Typer(
    help="onefold — one profile per customer, from every channel.",
    no_args_is_help=True,
    add_completion=False,
)
profiles_app = typer.Typer(help="Find and inspect unified profiles.", no_args_is_help=True)
export_app = typer.Typer(help="Export profiles and record links.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")
app.add_typer(export_app, name="export")

WS = typer.Option(Path("."), "--workspace", "-w", help="workspace folder")


def _open(path: Path) -> AbstractContextManager[Workspace]:
    return open_workspace(path)


def main() -> None:
    """Entry point: run the app, turning onefold errors into one readable line."""
    try:
        try:
            app(standalone_mode=False)
        except HeldByServer as held:
            _forward(held)
    except OnefoldError as exc:
        if os.environ.get("ONEFOLD_DEBUG"):
            raise
        console().print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        show = getattr(exc, "show", None)
        if show:
            show()
        sys.exit(code)


def _forward(held: HeldByServer) -> None:
    """Run this command line in the server that holds the workspace, print its output."""
    import shutil

    from onefold.server.forward import forward

    argv = sys.argv[1:]
    for i in range(1, len(argv)):  # files the command writes: where this shell means them
        if argv[i - 1] == "--out":
            argv[i] = str(Path(argv[i]).resolve())
    out = console()
    code, text = forward(
        held.url, held.token, argv, shutil.get_terminal_size().columns, out.is_terminal
    )
    sys.stdout.write(text)
    sys.stdout.flush()
    if code:
        sys.exit(code)


@app.command()
def init(
    path: Path = typer.Argument(Path("."), help="folder to create"),
    name: str | None = typer.Option(None, help="workspace name"),
) -> None:
    """Create a workspace: onefold.yml, sources/ and the database."""
    with Workspace.init(path, name) as ws:
        console().print(f"[green]workspace ready[/] at {ws.root}  (database {ws.config.database})")


@app.command()
def sample(
    persons: int = typer.Option(10_000, help="number of fictional people"),
    seed: int = typer.Option(42, help="random seed: same seed, same files"),
    out: Path = typer.Option(Path("."), help="workspace folder to write into"),
) -> None:
    """Generate the fictional retailer's exports, their mappings and the ground truth."""
    from onefold.sample import generate

    with progress_bar(console()) as report:
        tick = accumulate(report, "generate persons", persons)
        summary = generate(out, persons=persons, seed=seed, progress=tick)
    rows = [
        {"source": s, "records": n, "file": str(summary.files[s])}
        for s, n in summary.records.items()
    ]
    console().print(table(rows, title=f"sample data for {persons:,} persons"))
    console().print(f"ground truth: {summary.ground_truth}")


@app.command()
def load(
    names: list[str] = typer.Argument(None, help="sources to load (default: all)"),
    workspace: Path = WS,
) -> None:
    """Land source files: append-only, idempotent, with lineage."""
    with _open(workspace) as ws, progress_bar(console()) as report:
        results = ws.load(names or None, progress=report)
    rows = [
        {
            "source": r.source,
            "file": r.file,
            "load": r.load_id,
            "rows read": r.rows_read,
            "new": r.rows_new,
            "unchanged": r.rows_unchanged,
            "unreadable": r.rows_unreadable,
        }
        for r in results
    ]
    console().print(table(rows, title="load"))


@app.command()
def resolve(
    workspace: Path = WS,
    incremental: bool = typer.Option(
        False, "--incremental", help="resolve only what was landed since the last run"
    ),
    retrain: bool = typer.Option(
        False,
        "--retrain",
        help="learn the matching model again from all records (a full run); otherwise the "
        "stored model scores every run, and is trained only when there is none or the "
        "matching settings changed",
    ),
) -> None:
    """Clean, resolve identities and build profiles from everything landed."""
    with _open(workspace) as ws, progress_bar(console()) as report:
        r = ws.resolve(progress=report, incremental=incremental, retrain=retrain)
    if incremental and r.full_reason:
        console().print(f"[yellow]ran in full:[/] {r.full_reason}")
    if r.matching is not None:
        model = "trained" if r.matching.trained else "scored with the stored model"
        console().print(
            f"matching: {model}, {r.matching.candidate_pairs:,} pairs scored, "
            f"{r.matching.merges:,} merges"
        )
    region = f", region {r.region.profiles:,} profiles" if r.region else ""
    console().print(
        table(
            [
                {
                    "records": r.clean.records,
                    "rejects": r.clean.rejects,
                    "suspicious kept": r.clean.suspicious,
                    "identifiers": r.graph.nodes,
                    "hub values": r.graph.hubs,
                    "links over limits": r.graph.conflicts,
                    "profiles": r.profiles,
                    "created": r.ids.created,
                    "merged": r.ids.merged,
                    "split": r.ids.split,
                    "seconds": " / ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()),
                }
            ],
            title=f"resolve run {r.run_id} ({r.mode}{region})",
        )
    )


@profiles_app.command("search")
def profiles_search(
    query: str, workspace: Path = WS, limit: int = typer.Option(20, help="max profiles")
) -> None:
    """Find profiles by any identifier (email, phone, user id, card…) or name."""
    with _open(workspace) as ws:
        hits = ws.search(query, limit)
    if not hits:
        console().print(f"no profile matches {query!r}")
        raise typer.Exit(1)
    console().print(
        table(
            hits,
            columns=["profile_id", "name", "email", "phone", "records", "sources", "matched_on"],
        )
    )


@profiles_app.command("show")
def profiles_show(
    profile_id: str,
    workspace: Path = WS,
    json: bool = typer.Option(False, "--json", help="machine-readable output"),
    rows: int = typer.Option(25, help="timeline rows to print"),
) -> None:
    """Golden record, identifiers, consents and cross-channel timeline of one profile."""
    with _open(workspace) as ws:
        view = ws.profile(profile_id)
    if json:
        text = orjson.dumps(view.__dict__, default=str, option=orjson.OPT_INDENT_2).decode()
        console().out(text, highlight=False)
        return
    print_profile(console(), view, rows)


@app.command()
def rejects(
    workspace: Path = WS, source: str | None = typer.Option(None), limit: int = typer.Option(50)
) -> None:
    """Values and rows that failed validation, with file, row, field and reason."""
    with _open(workspace) as ws:
        rows = ws.rejects(source, limit)
    console().print(
        table(
            rows,
            title="rejects",
            columns=["source", "file", "row_number", "field", "raw_value", "reason"],
        )
    )


@app.command()
def quality(workspace: Path = WS) -> None:
    """Quality report: rejects by reason, identifier coverage, hub values, profile sizes."""
    with _open(workspace) as ws:
        report = ws.quality()
    for section, rows in report.items():
        if isinstance(rows, dict):
            rows = [rows]
        if rows:
            console().print(table(rows, title=section.replace("_", " ")))


NOTE = typer.Option(None, help="why (kept with the override)")


def _override(
    kind: Literal["must_link", "cannot_link"], a: str, b: str, workspace: Path, note: str | None
) -> None:
    with _open(workspace) as ws:
        oid = ws.add_override(kind, a, b, note)
    arrow = "⇄" if kind == "must_link" else "⇎"
    console().print(
        f"override {oid}: {kind.replace('_', '-')} {a} {arrow} {b}; run `onefold resolve` to apply"
    )


@app.command()
def link(a: str, b: str, workspace: Path = WS, note: str | None = NOTE) -> None:
    """Must-link two records (SOURCE/KEY) or identifiers (TYPE:VALUE), from the next resolve."""
    _override("must_link", a, b, workspace, note)


@app.command()
def unlink(a: str, b: str, workspace: Path = WS, note: str | None = NOTE) -> None:
    """Cannot-link two records or identifiers: they never share a profile again."""
    _override("cannot_link", a, b, workspace, note)


@app.command()
def overrides(
    workspace: Path = WS, remove: int | None = typer.Option(None, help="delete this override id")
) -> None:
    """List manual overrides (or remove one)."""
    with _open(workspace) as ws:
        if remove is not None:
            ws.remove_override(remove)
            console().print(f"override {remove} removed; run `onefold resolve` to apply")
            return
        rows = [o.__dict__ for o in ws.overrides()]
    console().print(
        table(rows, title="overrides", columns=["override_id", "kind", "a", "b", "note"])
    )


@app.command()
def unmerge(profile_id: str, workspace: Path = WS) -> None:
    """Undo the latest merge into a profile, then re-resolve."""
    with _open(workspace) as ws:
        oid = ws.unmerge(profile_id)
        with progress_bar(console()) as report:
            result = ws.resolve(progress=report)
    console().print(
        f"override {oid} separates the merged profiles; resolve run "
        f"{result.run_id}: {result.ids.split} split, {result.profiles:,} profiles"
    )


@export_app.command("profiles")
def export_profiles(
    out: Path = typer.Option(..., help="output file"),
    workspace: Path = WS,
    format: str = typer.Option("csv", help="csv or parquet"),
) -> None:
    """Write every golden record to CSV or Parquet."""
    if format not in ("csv", "parquet"):
        raise typer.BadParameter("expected csv or parquet", param_hint="--format")
    fmt_: Literal["csv", "parquet"] = "csv" if format == "csv" else "parquet"
    with _open(workspace) as ws:
        n = ws.export_profiles(out, fmt_)
    console().print(f"wrote {n:,} profiles to {out}")


@export_app.command("links")
def export_links(out: Path = typer.Option(..., help="output CSV"), workspace: Path = WS) -> None:
    """Write source,record_key,profile_id for every record (to evaluate against truth)."""
    with _open(workspace) as ws:
        n = ws.export_links(out)
    console().print(f"wrote {n:,} links to {out}")


register_explain(app)
register_collect(app)

__all__ = ["app", "fmt", "main"]
