"""Review: known records of a CSV source re-landed through `ingest` after real-time events:
two records end up with one rid and the full run crashes (KeyError in split_component)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onefold import Workspace
from onefold.collect.http_source import http_source_yaml
from shared_sources import SHOP, SHOP_HEAD
from test_express import ROWS, identify
from test_fast_path import assert_same_as_full_rerun


def ev(n: int, **f: Any) -> dict[str, Any]:
    return identify(**f, timestamp=f"2024-04-01T{n:02d}:00:00Z", messageId=f"r-{n:03d}")


def test_review_relanded_records_after_web_events(
    workspace: Workspace, add_source: Any, tmp_path: Path
) -> None:
    add_source("shop", SHOP, "shop.csv", SHOP_HEAD + ROWS)
    (workspace.root / "sources" / "web.yml").write_text(http_source_yaml("web"), encoding="utf-8")
    workspace.load()
    workspace.resolve()
    ws = workspace
    ws.ingest("web", [ev(0, anonymousId="dev-4", userId="u-2", traits={"email": "fam@mail.com"})])
    ws.ingest("shop", [{"order": "s10", "device": "dev-6", "at": "2024-05-11"}])
    ws.ingest("shop", [{"order": "o2", "device": "dev-3", "at": "2024-05-13"}])
    dup = ws.engine.fetchall("SELECT rid, count(*) FROM records GROUP BY rid HAVING count(*) > 1")
    assert not dup
    assert_same_as_full_rerun(ws, tmp_path)
