"""`make demo`: the whole batch pipeline on 10k fictional people, end to end.

sample → init → load → resolve → inventory, summary, accuracy against the ground truth, and
the unified profiles that join the most channels.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from onefold.cli.progress import progress_bar
from onefold.cli.render import inventory_table, print_profile, table
from onefold.progress import accumulate
from onefold.quality.accuracy import score_against_truth
from onefold.sample import generate
from onefold.workspace import Workspace

PERSONS = 10_000
SEED = 42


def run(root: Path = Path("demo-workspace"), persons: int = PERSONS) -> None:
    console = Console()
    started = time.perf_counter()
    if root.exists():
        shutil.rmtree(root)
    console.print(Rule(f"onefold demo: {persons:,} fictional customers of Lumen & Co."))
    with Workspace.init(root, "demo") as ws:
        with progress_bar(console) as report:
            tick = accumulate(report, "generate sample data", persons)
            summary = generate(root, persons=persons, seed=SEED, progress=tick)
            loads = ws.load(progress=report)
            result = ws.resolve(progress=report)
        console.print(inventory_table(ws.sources()))
        acc = score_against_truth(ws.engine, summary.ground_truth)
        summary_rows = {
            "records landed": f"{sum(r.rows_new for r in loads):,}",
            "rejected values (kept, with reasons)": f"{result.clean.rejects:,}",
            "identifier values": f"{result.graph.nodes:,}",
            "shared hub values (not used to link)": f"{result.graph.hubs:,}",
            "profiles": f"{result.profiles:,}",
            "true persons in the ground truth": f"{acc.persons:,}",
            "pairwise precision": f"{acc.precision:.4f}",
            "pairwise recall": f"{acc.recall:.4f}",
            "B-cubed F1": f"{acc.bcubed_f1:.4f}",
            "largest profile (records)": str(acc.largest_profile),
        }
        console.print(
            table(
                [{"metric": k, "value": v} for k, v in summary_rows.items()],
                title="summary, scored against the generator's ground truth",
            )
        )
        best = ws.query("""
            SELECT profile_id FROM profiles
            ORDER BY source_count DESC, records DESC, profile_id LIMIT 3
        """)
        for row in best:
            console.print(Rule())
            print_profile(console, ws.profile(row["profile_id"]), timeline_rows=15)
        console.print(Rule())
        console.print(
            f"done in {time.perf_counter() - started:.0f} s. Explore: "
            f"[bold].venv/bin/onefold profiles search 'zhang wei' -w {root}[/], "
            f"[bold].venv/bin/onefold sources --fields -w {root}[/], "
            f"[bold].venv/bin/onefold rejects -w {root}[/]"
        )


if __name__ == "__main__":
    run()
