"""Run one entity-resolution tool in a child process and report its clusters, time and memory.

Why a child process per tool: peak RSS (`ru_maxrss`) is a high-water mark of the whole
process, so measuring two tools in one process would report whichever was hungrier for
both. Each child imports only its own tool, does its work, writes its clusters as a
`key,cluster_id` CSV and a small JSON result, and exits; the parent scores the clusters.

    python benchmarks/_peers.py splink  SPEC.json RESULT.json
    python benchmarks/_peers.py onefold SPEC.json RESULT.json

A Splink spec is declarative (columns, comparison methods, blocking expressions, training
rules) so that the benchmark scripts state the settings they use in one readable place and
the child turns them into Splink 5 objects. An onefold spec names a prepared workspace.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

Tool = Literal["splink", "onefold", "onefold_realtime", "splink_realtime"]

#: Splink's threshold. 0.95 is the value Splink's own tutorials cluster at, and the same as
#: onefold's default `matching.threshold`; it is fixed up front, never tuned on the labels.
SPLINK_THRESHOLD = 0.95


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- parent side -------------------------------------------------------------------------------
def run_peer(tool: Tool, spec: Mapping[str, Any], workdir: Path) -> dict[str, Any]:
    """Run `tool` on `spec` in a fresh interpreter; return its result JSON.

    The child's stdout and stderr go to a log file beside the result (so a failure can be
    shown, and so neither tool's chatter breaks the parent's `--json` last line).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / f"{tool}-spec.json"
    out_path = workdir / f"{tool}-result.json"
    log_path = workdir / f"{tool}.log"
    spec_path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    out_path.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONUNBUFFERED="1")
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), tool, str(spec_path), str(out_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if proc.returncode != 0 or not out_path.exists():
        tail = "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{tool} child failed (exit {proc.returncode}); log {log_path}:\n{tail}")
    result: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
    return result


def read_clusters(path: Path) -> dict[str, str]:
    """A child's `key,cluster_id` CSV as record key → cluster id."""
    with path.open(newline="", encoding="utf-8") as f:
        return {row["key"]: row["cluster_id"] for row in csv.DictReader(f)}


@contextmanager
def run_progress(console: Console) -> Iterator[tuple[Progress, TaskID]]:
    """One overall bar plus a spinner line per child run, so minutes of work show progress."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        overall = progress.add_task("runs", total=0)
        yield progress, overall


def ratio(a: float, b: float) -> float | None:
    """a / b rounded for reports; None when b is 0 (a tool that linked nothing has F1 0)."""
    return round(a / b, 3) if b else None


# -- child side: Splink ------------------------------------------------------------------------
def _splink_comparison(c: Mapping[str, Any]) -> Any:
    import splink.comparison_library as cl

    col, method = c["column"], c["method"]
    if method == "name":
        comp = cl.NameComparison(col)
    elif method == "jaro_winkler":
        comp = cl.JaroWinklerAtThresholds(col, c.get("thresholds", [0.9, 0.8]))
    elif method == "levenshtein":
        comp = cl.LevenshteinAtThresholds(col, c.get("thresholds", [1, 2]))
    elif method == "date":
        comp = cl.DateOfBirthComparison(
            col, input_is_string=True, datetime_format=c.get("date_format", "%Y-%m-%d")
        )
    elif method == "email":
        comp = cl.EmailComparison(col)
    elif method == "exact":
        comp = cl.ExactMatch(col)
    else:
        raise ValueError(f"unknown comparison method {method!r}")
    if c.get("tf"):
        comp = comp.configure(term_frequency_adjustments=True)
    return comp


def _run_splink(spec: Mapping[str, Any]) -> dict[str, Any]:
    import logging

    import pandas as pd
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    baseline = peak_rss_mb()
    frames = []
    for inp in spec["inputs"]:
        df = pd.read_parquet(inp["path"])
        frames.append((inp["name"], df))

    def rules(groups: list[list[str]]) -> list[Any]:
        return [block_on(*g) for g in groups]

    settings = SettingsCreator(
        link_type=spec["link_type"],
        unique_id_column_name=spec["unique_id"],
        comparisons=[_splink_comparison(c) for c in spec["comparisons"]],
        blocking_rules_to_generate_predictions=rules(spec["blocking"]),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    t0 = time.perf_counter()
    db_api = DuckDBAPI()
    tables = [db_api.register(df, dataset_display_name=name) for name, df in frames]
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        rules(spec["deterministic_rules"]), recall=spec["deterministic_recall"]
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=spec["u_max_pairs"], seed=spec.get("seed", 42)
    )
    for group in spec["em_blocking"]:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*group))
    predictions = linker.inference.predict(threshold_match_probability=0.5 * spec["threshold"])
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=spec["threshold"]
    ).as_pandas_dataframe()
    seconds = time.perf_counter() - t0

    # Keys as the parent scores them: `source/record id`. With several inputs Splink names
    # each row's input in `source_dataset`; a single input's prefix is given by the spec
    # (empty when its ids already carry the source, as in identity_scale).
    uid = spec["unique_id"]
    if "source_dataset" in clusters.columns:
        keys = clusters["source_dataset"].astype(str) + "/" + clusters[uid].astype(str)
    else:
        prefix = spec["inputs"][0].get("key_prefix", spec["inputs"][0]["name"] + "/")
        keys = prefix + clusters[uid].astype(str)
    pd.DataFrame({"key": keys, "cluster_id": clusters["cluster_id"].astype(str)}).to_csv(
        spec["clusters_out"], index=False
    )
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
        "clustered_pairs": int(
            (clusters.groupby("cluster_id").size().pipe(lambda n: n * (n - 1) // 2)).sum()
        ),
        "probability_two_random_records_match": (
            linker._settings_obj.core_model_settings.probability_two_random_records_match
        ),
    }


# -- child side: onefold -----------------------------------------------------------------------
def _run_onefold(spec: Mapping[str, Any]) -> dict[str, Any]:
    from onefold import Workspace

    baseline = peak_rss_mb()
    with Workspace(spec["workspace"]) as ws:
        t0 = time.perf_counter()
        ws.load()
        result = ws.resolve()
        seconds = time.perf_counter() - t0
        links = Path(spec["clusters_out"]).with_suffix(".links.csv")
        ws.export_links(links)
    with (
        links.open(newline="", encoding="utf-8") as f,
        Path(spec["clusters_out"]).open("w", newline="", encoding="utf-8") as out,
    ):
        w = csv.writer(out)
        w.writerow(["key", "cluster_id"])
        for row in csv.DictReader(f):
            w.writerow([f"{row['source']}/{row['record_key']}", row["profile_id"]])
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline,
        "stage_seconds": result.seconds,
        "profiles": result.profiles,
    }


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in seconds)
    if not ms:
        return {"median_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    return {
        "median_ms": round(ms[len(ms) // 2], 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        "max_ms": round(ms[-1], 2),
    }


def _run_onefold_realtime(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Each event through `Workspace.ingest` (land, clean, resolve, commit), one by one."""
    from onefold import Workspace

    lines = Path(spec["events"]).read_bytes().splitlines()
    batch = Path(spec["batch"]).read_bytes().splitlines()
    source = spec["source"]
    latencies: list[float] = []
    kinds: dict[str, list[tuple[float, int, bool, bool]]] = {}
    #: per event: seconds cleaning, deciding, writing, and the rest (landing, the run's
    #: bookkeeping, the commits)
    phases: list[dict[str, float]] = []
    merged = 0
    with Workspace(spec["workspace"]) as ws:
        # one event of each kind first: imports, the mapping cache, the conflict cache
        for line in Path(spec["warm"]).read_bytes().splitlines():
            ws.ingest(source, [line])
        t_all = time.perf_counter()
        for line in lines:
            kind = json.loads(line)["kind"]
            t0 = time.perf_counter()
            _, result = ws.ingest(source, [line])
            dt = time.perf_counter() - t0
            latencies.append(dt)
            assert result is not None and result.mode == "incremental", result
            region = result.region.profiles if result.region else 0
            fast = result.fast is not None and result.fast.left_to_region == 0
            kinds.setdefault(kind, []).append((dt, region, fast, result.express))
            phases.append(
                {
                    name: result.seconds.get(key, 0.0)
                    for name, key in (
                        ("clean", "clean"),
                        ("decide", "identity"),
                        ("write", "profiles"),
                    )
                }
            )
            phases[-1]["other"] = dt - sum(phases[-1].values())
            merged += int(kind == "login" and result.ids.merged > 0)
        total = time.perf_counter() - t_all
        t0 = time.perf_counter()
        _, result = ws.ingest(source, batch)
        batch_seconds = time.perf_counter() - t0
        assert result is not None and result.mode == "incremental", result
    return {
        **_percentiles(latencies),
        "events_per_s": round(len(lines) / total, 1),
        "batch_seconds": round(batch_seconds, 3),
        "merged_logins": merged,
        "phase_median_ms": {
            name: _percentiles([p[name] for p in phases])["median_ms"]
            for name in ("clean", "decide", "write", "other")
        },
        "by_kind": {
            k: {
                "events": len(v),
                **_percentiles([d for d, _, _, _ in v]),
                "mean_region_profiles": round(sum(r for _, r, _, _ in v) / len(v), 2),
                "fast_path_share": round(sum(f for _, _, f, _ in v) / len(v), 3),
                "express_share": round(sum(x for _, _, _, x in v) / len(v), 3),
            }
            for k, v in kinds.items()
        },
        "seconds": total,
        "peak_rss_mb": peak_rss_mb(),
    }


def _run_splink_realtime(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Train on the existing records, then `predict_between(existing, one new record)`."""
    import logging

    import pandas as pd
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    existing = pd.read_parquet(spec["inputs"][0]["path"])
    new = pd.read_json(spec["new_records"], lines=True, dtype=False)
    new = new.astype(existing.dtypes.to_dict())
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=spec["unique_id"],
        comparisons=[_splink_comparison(c) for c in spec["comparisons"]],
        blocking_rules_to_generate_predictions=[block_on(*g) for g in spec["blocking"]],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    t0 = time.perf_counter()
    db_api = DuckDBAPI()
    table = db_api.register(existing, dataset_display_name="existing")
    linker = Linker(table, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*g) for g in spec["deterministic_rules"]], recall=spec["deterministic_recall"]
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=spec["u_max_pairs"], seed=42)
    for group in spec["em_blocking"]:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*group))
    for c in spec["comparisons"]:
        if c.get("tf"):
            linker.table_management.compute_tf_table(c["column"])
    train_seconds = time.perf_counter() - t0
    latencies: list[float] = []
    found = 0
    t_all = time.perf_counter()
    for i in range(len(new)):
        t0 = time.perf_counter()
        one = db_api.register(new.iloc[i : i + 1], dataset_display_name=f"new_{i}")
        pairs = linker.inference.predict_between(
            table, one, threshold_match_probability=spec["threshold"]
        ).as_pandas_dataframe()
        latencies.append(time.perf_counter() - t0)
        found += int(len(pairs) > 0)
    total = time.perf_counter() - t_all
    return {
        **_percentiles(latencies),
        "events_per_s": round(len(new) / total, 1),
        "train_seconds": round(train_seconds, 2),
        "events_with_a_match": found,
        "seconds": total,
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str]) -> None:
    tool, spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    runners = {
        "splink": _run_splink,
        "onefold": _run_onefold,
        "onefold_realtime": _run_onefold_realtime,
        "splink_realtime": _run_splink_realtime,
    }
    if tool not in runners:
        raise SystemExit(f"unknown tool {tool!r}; expected one of {sorted(runners)}")
    result = runners[tool](spec)
    result["tool"] = tool
    Path(out_path).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
