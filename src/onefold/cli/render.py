"""Readable tables for the terminal. Presentation only: data comes from the Workspace API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from onefold.lookup import ProfileView
from onefold.quality.inventory import SourceInventory


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return ", ".join(f"{k} {fmt(v)}" for k, v in value)  # a MAP from Arrow
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt(v)}" for k, v in value.items())
    return str(value)


def table(
    rows: Sequence[dict[str, Any]], title: str | None = None, columns: Sequence[str] | None = None
) -> Table:
    cols = list(columns or (rows[0].keys() if rows else []))
    t = Table(title=title, show_lines=False, header_style="bold cyan")
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*(fmt(r.get(c)) for c in cols))
    return t


def inventory_table(items: list[SourceInventory]) -> Table:
    t = Table(title="Data inventory", header_style="bold cyan")
    for c in (
        "source",
        "system",
        "format",
        "channel",
        "files",
        "records",
        "rejects",
        "newest record",
        "last load",
        "freshness",
    ):
        t.add_column(c, justify="right" if c in ("files", "records", "rejects") else "left")
    for s in items:
        colour = {"fresh": "green", "stale": "red"}.get(s.freshness, "yellow")
        t.add_row(
            s.name,
            s.system,
            s.format,
            s.channel,
            str(s.files),
            f"{s.records:,}",
            f"{s.rejects:,}",
            fmt(s.newest_event),
            fmt(s.last_loaded_at),
            f"[{colour}]{s.freshness}[/] ({s.update_frequency})",
        )
    return t


def fields_table(s: SourceInventory) -> Table:
    t = Table(title=f"{s.name}: mapped fields", header_style="bold cyan")
    for c in ("role", "name", "field", "null %", "valid %", "rejected", "suspicious"):
        t.add_column(c)
    for f in s.fields:
        t.add_row(
            f.role,
            f.name,
            f.field,
            f"{100 * f.null_rate:.1f}",
            f"{100 * f.validity:.1f}",
            str(f.rejected),
            str(f.suspicious),
        )
    return t


def print_profile(console: Console, view: ProfileView, timeline_rows: int = 25) -> None:
    p = view.profile
    tree = Tree(f"[bold]{fmt(p['name'])}[/]  [dim]{p['profile_id']}[/]")
    gold = tree.add("golden record")
    for key in (
        "email",
        "phone",
        "user_id",
        "birth_date",
        "gender",
        "country",
        "city",
        "first_seen",
        "last_seen",
        "records",
        "orders",
        "revenue",
        "sources",
    ):
        gold.add(f"{key}: {fmt(p.get(key))}")
    ids = tree.add(f"identifiers ({len(view.identifiers)})")
    for i in view.identifiers:
        shared = " [red](shared value, not used to link)[/]" if i["shared"] else ""
        ids.add(
            f"{i['id_type']}: {i['value']}  [dim]{i['records']} records in "
            f"{fmt(i['sources'])}[/]{shared}"
        )
    if view.consents:
        cons = tree.add("consents")
        for c in view.consents:
            cons.add(
                f"{c['purpose']}: {c['status']} [dim]({c['source']}, {fmt(c['observed_at'])})[/]"
            )
    console.print(tree)
    rows = view.timeline[:timeline_rows]
    more = len(view.timeline) - len(rows)
    title = "cross-channel timeline" + (
        f" (first {len(rows)} of {len(view.timeline)})" if more > 0 else ""
    )
    console.print(
        table(
            rows,
            title=title,
            columns=["event_time", "source", "channel", "event_type", "amount", "currency"],
        )
    )
