"""Helpers for the incremental-resolution tests: sample data delivered in two halves."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from onefold import Workspace
from onefold.sample.generator import generate


def split_file(path: Path, fraction: float) -> tuple[str, str]:
    """(first part, whole file) as text: the first `fraction` of the rows, header kept."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        lines = text.splitlines(keepends=True)
        return "".join(lines[: int(len(lines) * fraction)]), text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows[: 1 + int((len(rows) - 1) * fraction)])
    return out.getvalue(), text


def sample_in_two_halves(tmp: Path, persons: int, fraction: float) -> tuple[Path, dict[Path, str]]:
    """A workspace holding the first part of every sample file; returns it and the rest."""
    generate(tmp / "gen", persons)
    ws = Workspace.init(tmp / "ws", "inc")
    ws.close()
    shutil.copytree(tmp / "gen" / "sources", ws.root / "sources", dirs_exist_ok=True)
    (ws.root / "data").mkdir(exist_ok=True)
    later: dict[Path, str] = {}
    for f in sorted((tmp / "gen" / "data").iterdir()):
        first, whole = split_file(f, fraction)
        (ws.root / "data" / f.name).write_text(first, encoding="utf-8")
        later[ws.root / "data" / f.name] = whole
    return ws.root, later


def links(ws: Workspace) -> dict[tuple[str, str], str]:
    return {
        (str(s), str(k)): str(p)
        for s, k, p in ws.engine.fetchall(
            "SELECT source, record_key, profile_id FROM record_profiles"
        )
    }


def partition(link_map: dict[tuple[str, str], str]) -> set[frozenset[tuple[str, str]]]:
    groups: dict[str, set[tuple[str, str]]] = {}
    for rec, pid in link_map.items():
        groups.setdefault(pid, set()).add(rec)
    return {frozenset(g) for g in groups.values()}


def table_rows(ws: Workspace, table: str, order: str) -> list[tuple[object, ...]]:
    return ws.engine.fetchall(f"SELECT * EXCLUDE ({order}) FROM {table} ORDER BY ALL")
