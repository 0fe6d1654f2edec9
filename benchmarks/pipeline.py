"""Batch pipeline throughput: load → clean → identity → profiles on the sample data.

Beside onefold's landing it times DuckDB's own bulk read of the same files into a plain
table (no lineage, no hashing, no versioning) in the same run: the ratio says what landing's
guarantees cost. Sample data is generated once per (persons, seed) and reused.

    python benchmarks/pipeline.py --persons 1000000 [--json]
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import sys
import time
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from onefold import Workspace
from onefold.cli.progress import progress_bar
from onefold.progress import accumulate
from onefold.quality.accuracy import score_against_truth
from onefold.sample import generate


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_sample(root: Path, persons: int, seed: int, console: Console) -> Path:
    data = root / f"sample-{persons}-{seed}"
    if not (data / "ground_truth.csv").exists():
        shutil.rmtree(data, ignore_errors=True)
        with progress_bar(console) as report:
            generate(
                data,
                persons=persons,
                seed=seed,
                progress=accumulate(report, "generate sample", persons),
            )
    return data


def raw_duckdb_seconds(ws: Workspace) -> float:
    """DuckDB reading every source file into one table of JSON text, nothing else."""
    t0 = time.perf_counter()
    ws.engine.execute("CREATE OR REPLACE TEMP TABLE _raw (payload VARCHAR)")
    for m in ws.mappings.values():
        for path in m.files(ws.root):
            p = str(path).replace("'", "''")
            if m.format == "csv":
                select = (
                    f"SELECT to_json(t)::VARCHAR FROM "
                    f"read_csv('{p}', all_varchar = true, header = true) t"
                )
            else:
                select = f"SELECT json::VARCHAR FROM read_ndjson_objects('{p}')"
            ws.engine.execute(f"INSERT INTO _raw {select}")
    seconds = time.perf_counter() - t0
    ws.engine.execute("DROP TABLE _raw")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path("bench-data"))
    ap.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit (spills beyond)")
    ap.add_argument("--json", action="store_true", help="print one JSON object last")
    ap.add_argument("--verbose", action="store_true", help="log every SQL statement's time")
    args = ap.parse_args()
    if args.verbose:
        logging.basicConfig(format="%(asctime)s %(message)s", stream=sys.stderr)
        logging.getLogger("onefold.sql").setLevel(logging.DEBUG)
    console = Console(stderr=args.json)
    data = ensure_sample(args.dir, args.persons, args.seed, console)

    ws_root = args.dir / f"ws-{args.persons}"
    shutil.rmtree(ws_root, ignore_errors=True)
    Workspace.init(ws_root, "bench").close()
    cfg = ws_root / "onefold.yml"
    cfg.write_text(cfg.read_text() + f"memory_limit: {args.memory_limit}\n")
    ws = Workspace(ws_root)
    shutil.copytree(data / "sources", ws_root / "sources", dirs_exist_ok=True)
    (ws_root / "data").symlink_to((data / "data").resolve())

    stages: dict[str, float] = {}
    with progress_bar(console) as report:
        t0 = time.perf_counter()
        loads = ws.load(progress=report)
        stages["load"] = time.perf_counter() - t0
        result = ws.resolve(progress=report)
    stages.update(result.seconds)
    raw = raw_duckdb_seconds(ws)
    acc = score_against_truth(ws.engine, data / "ground_truth.csv")
    rss = peak_rss_mb()
    landed = sum(r.rows_new for r in loads)
    records = result.clean.records
    ws.close()

    total = sum(stages.values())
    table = Table(title=f"pipeline at {args.persons:,} persons ({records:,} records)")
    for col in ("stage", "seconds", "records/s"):
        table.add_column(col, justify="right")
    for name, secs in stages.items():
        table.add_row(name, f"{secs:.1f}", f"{records / secs:,.0f}")
    table.add_row("[bold]total", f"[bold]{total:.1f}", f"{records / total:,.0f}")
    console.print(table)
    console.print(
        f"DuckDB raw bulk read of the same files: {raw:.1f} s → landing costs "
        f"{stages['load'] / raw:.1f}× the engine's raw read"
    )
    console.print(
        f"peak RSS {rss:,.0f} MB; profiles {result.profiles:,}; pairwise precision "
        f"{acc.precision:.4f}, recall {acc.recall:.4f}, largest profile "
        f"{acc.largest_profile} records"
    )
    if args.json:
        out = {
            "persons": args.persons,
            "records": records,
            "landed": landed,
            "seconds": round(total, 2),
            "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
            "records_per_s": {k: round(records / v) for k, v in stages.items()},
            "raw_duckdb_load_seconds": round(raw, 2),
            "load_vs_raw_ratio": round(stages["load"] / raw, 2),
            "peak_rss_mb": round(rss),
            "profiles": result.profiles,
            "precision": round(acc.precision, 5),
            "recall": round(acc.recall, 5),
            "bcubed_f1": round(acc.bcubed_f1, 5),
            "largest_profile": acc.largest_profile,
        }
        sys.stdout.write(orjson.dumps(out).decode() + "\n")


if __name__ == "__main__":
    main()
