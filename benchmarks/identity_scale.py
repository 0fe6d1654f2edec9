"""Identity resolution at scale: onefold vs Splink 5 on the sample's person-level sources.

The sample generator's nine exports minus the two clickstreams (web_events, app_events):
CRM, shop orders, POS receipts, loyalty members, call-centre calls, email engagement and
WeChat followers, at N persons. The clickstreams are left out because they are mostly
anonymous cookie/device events that no person matcher can place; what is measured here is
resolving person records.

1. onefold: `load()` + `resolve()` (cleaning, deterministic identity graph and the
   probabilistic `matching:` block below), timed together, in its own process.
2. Splink on the SAME normalised values: onefold's cleaned values (status valid or
   suspicious; name keys are the pinyin/case-folded keys, phones E.164, emails lower-cased)
   flattened to one row per record and written to Parquet; Splink then deduplicates that
   table in its own process. Only Splink's own work is timed (registering the table,
   training, predict, clustering), not onefold's cleaning that produced its input.

Both are scored against the generator's ground truth on the final clusters; no label is
used for training or for the thresholds (0.95 for both, fixed up front).

    python benchmarks/identity_scale.py --persons 2000 [--seed 7] [--json]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml
from rich.console import Console
from rich.table import Table

from _peers import SPLINK_THRESHOLD, ratio, read_clusters, run_peer, run_progress
from _scoring import pairwise_scores, run_summary
from onefold import Workspace
from onefold.identity.union_find import UnionFind
from pipeline import ensure_sample

PERSON_SOURCES = (
    "crm_contacts",
    "shop_orders",
    "pos_receipts",
    "loyalty_members",
    "call_center",
    "email_engagement",
    "wechat_followers",
)

#: onefold's matching block. The brief's `city` comparison is left out: no sample mapping
#: maps a city (the shop's shipping address is often a gift recipient's, so it is not a
#: trait of the buyer).
ONEFOLD_MATCHING: dict[str, Any] = {
    "enabled": True,
    "comparisons": [
        # the full name where a source has one, else first + last (either order)
        {"field": "person_name", "method": "name", "tf_adjust": True},
        {"field": "birth_date", "method": "date"},
        {"field": "email", "method": "email"},
        {"field": "phone", "method": "phone"},
    ],
    "blocking": [
        ["person_name", "birth_date[:4]"],
        ["person_name", "phone[-4:]"],
        ["phone[-4:]", "birth_date[:4]"],
        ["email"],
    ],
    "threshold": SPLINK_THRESHOLD,
}

#: One row per current record from onefold's cleaned values. `name_key` is the full name's
#: key, else first + last; its tokens are sorted so that 'zhao fang' (family name first, as
#: Chinese sources write it) meets the CRM's first='fang', last='zhao'.
FLAT_SQL = """
WITH v AS (
    SELECT rid, name, value, key FROM record_values
    WHERE status IN ('valid', 'suspicious') AND role IN ('identifier', 'trait')
),
w AS (
    SELECT rid,
           any_value(key) FILTER (WHERE name = 'full_name') AS full_key,
           any_value(key) FILTER (WHERE name = 'first_name') AS first_name_key,
           any_value(key) FILTER (WHERE name = 'last_name') AS last_name_key,
           any_value(value) FILTER (WHERE name = 'birth_date') AS birth_date,
           any_value(value) FILTER (WHERE name = 'email') AS email,
           any_value(value) FILTER (WHERE name = 'phone') AS phone,
           any_value(value) FILTER (WHERE name = 'user_id') AS user_id,
           any_value(value) FILTER (WHERE name = 'loyalty_card') AS loyalty_card,
           any_value(value) FILTER (WHERE name = 'wechat_unionid') AS wechat_unionid
    FROM v GROUP BY rid
)
SELECT r.source || '/' || r.record_key AS unique_id,
       nullif(array_to_string(list_sort(string_split(
           coalesce(w.full_key, concat_ws(' ', w.first_name_key, w.last_name_key)), ' ')),
           ' '), '') AS name_key,
       w.first_name_key, w.last_name_key, w.birth_date, w.email, w.phone,
       w.user_id, w.loyalty_card, w.wechat_unionid
FROM records r LEFT JOIN w USING (rid)
"""


def prepare_workspace(root: Path, data: Path, memory_limit: str = "4GB") -> Path:
    """A fresh workspace holding only the person-level mappings and the matching block;
    DuckDB spills beyond `memory_limit`, as the pipeline benchmark sets it."""
    shutil.rmtree(root, ignore_errors=True)
    Workspace.init(root, "identity-scale").close()
    for name in PERSON_SOURCES:
        shutil.copy(data / "sources" / f"{name}.yml", root / "sources" / f"{name}.yml")
    (root / "data").symlink_to((data / "data").resolve())
    cfg = root / "onefold.yml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8")
        + yaml.safe_dump(
            {"matching": ONEFOLD_MATCHING, "memory_limit": memory_limit}, sort_keys=False
        ),
        encoding="utf-8",
    )
    return root


def export_flat(ws_root: Path, path: Path) -> int:
    """Write onefold's cleaned values as Splink's input table; return its row count."""
    with Workspace(ws_root) as ws:
        target = str(path).replace("'", "''")
        ws.engine.execute(f"COPY ({FLAT_SQL}) TO '{target}' (FORMAT parquet)", step="flat")
        return int(ws.engine.fetchone("SELECT count(*) FROM records"))


def splink_spec(flat: Path, clusters_out: Path) -> dict[str, Any]:
    """Splink 5 settings analogous to onefold's matching block, on the flattened table.

    Names compare `name_key` (one comparison instead of full/first/last, which would count
    the same evidence two or three times in a Fellegi–Sunter model). The deterministic
    identifiers onefold links on (user id, loyalty card, WeChat unionid) are exact-match
    comparisons and blocking rules, so Splink can see what onefold's identity graph sees;
    `name_key` blocking stands in for first+last blocking on full-name-only sources.
    λ comes from strict rules at an assumed recall of 0.6 (most records share no strong
    identifier), u from random pairs, m by EM on name and on phone blocks.
    """
    return {
        "inputs": [{"name": "records", "path": str(flat), "key_prefix": ""}],
        "link_type": "dedupe_only",
        "unique_id": "unique_id",
        "comparisons": [
            {"column": "name_key", "method": "name", "tf": True},
            {"column": "birth_date", "method": "date", "date_format": "%Y-%m-%d"},
            {"column": "email", "method": "email"},
            {"column": "phone", "method": "levenshtein", "thresholds": [1, 2]},
            {"column": "user_id", "method": "exact"},
            {"column": "loyalty_card", "method": "exact"},
            {"column": "wechat_unionid", "method": "exact"},
        ],
        "blocking": [
            ["last_name_key", "substr(birth_date, 1, 4)"],
            ["first_name_key", "last_name_key"],
            ["right(phone, 4)"],
            ["email"],
            ["birth_date"],
            ["name_key"],
            ["user_id"],
            ["loyalty_card"],
            ["wechat_unionid"],
        ],
        "deterministic_rules": [
            ["name_key", "birth_date"],
            ["email"],
            ["user_id"],
            ["loyalty_card"],
            ["wechat_unionid"],
        ],
        "deterministic_recall": 0.6,
        "u_max_pairs": 1e7,
        "seed": 42,
        "em_blocking": [["name_key"], ["phone"]],
        "threshold": SPLINK_THRESHOLD,
        "clusters_out": str(clusters_out),
    }


#: Every current record's usable identifier values, to compute what exact sharing allows.
IDENTIFIERS_SQL = """
SELECT r.source || '/' || r.record_key, v.name || ':' || v.value
FROM records r JOIN record_values v USING (rid)
WHERE v.role = 'identifier' AND v.status IN ('valid', 'suspicious')
"""


def shared_value_ceiling(ws_root: Path, truth: dict[str, str]) -> dict[str, str]:
    """The oracle clusters that exact identifier sharing allows at best, using the labels.

    Each person's records are joined wherever two of them share a cleaned identifier value,
    and never across persons: perfect hub detection and no false links. Records that share
    nothing with the rest of their person (a till receipt with no card and no phone, a
    WeChat follower known by openid alone) stay apart, so its recall is the most a resolver
    gets from identifiers; only matching on names, dates and partial phones can go beyond.
    """
    persons: UnionFind[str] = UnionFind()
    first: dict[tuple[str, str], str] = {}
    with Workspace(ws_root) as ws:
        for rec, value in ws.engine.fetchall(IDENTIFIERS_SQL):
            person = truth.get(str(rec))
            if person is None:
                continue
            seen = first.setdefault((person, str(value)), str(rec))
            if seen != rec:
                persons.union(seen, str(rec))
    return {rec: persons.find(rec) for rec in truth}


def read_truth(path: Path) -> dict[str, str]:
    """`source/record_key` → person, for the person-level sources only."""
    wanted = set(PERSON_SOURCES)
    with path.open(newline="", encoding="utf-8") as f:
        return {
            f"{r['source']}/{r['record_key']}": r["person_id"]
            for r in csv.DictReader(f)
            if r["source"] in wanted
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path("bench-data"))
    ap.add_argument("--memory-limit", default="4GB", help="onefold's DuckDB memory_limit")
    ap.add_argument(
        "--skip-splink",
        action="store_true",
        help="onefold and the ceiling only (Splink needed 6 GB at 100k persons)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    console = Console(stderr=args.json)
    data = ensure_sample(args.dir, args.persons, args.seed, console)
    run_dir = (args.dir / f"identity-scale-{args.persons}-{args.seed}").resolve()
    ws_root = prepare_workspace(run_dir / "ws", data, args.memory_limit)
    truth = read_truth(data / "ground_truth.csv")

    results: dict[str, Any] = {}
    with run_progress(console) as (progress, overall):
        progress.update(overall, total=3)
        task = progress.add_task("onefold load + resolve", total=None)
        of_spec = {"workspace": str(ws_root), "clusters_out": str(run_dir / "onefold.csv")}
        try:
            run = run_peer("onefold", of_spec, run_dir)
        except RuntimeError as exc:
            # Splink still runs if onefold got as far as cleaning (its input is onefold's
            # cleaned values); otherwise export_flat below fails with the real cause.
            console.print(f"[red]onefold failed:[/] {exc}")
            results["onefold"] = None
        else:
            results["onefold"] = run_summary(
                pairwise_scores(read_clusters(run_dir / "onefold.csv"), truth), run
            )
        progress.update(task, total=1, completed=1)
        progress.advance(overall)

        ceiling = pairwise_scores(shared_value_ceiling(ws_root, truth), truth)

        task = progress.add_task("export cleaned values for Splink", total=None)
        flat = run_dir / "flat.parquet"
        records = export_flat(ws_root, flat)
        progress.update(task, total=1, completed=1)
        progress.advance(overall)

        if args.skip_splink:
            results["splink"] = None
        else:
            task = progress.add_task("splink train + predict + cluster", total=None)
            sp_spec = splink_spec(flat, run_dir / "splink.csv")
            run = run_peer("splink", sp_spec, run_dir)
            results["splink"] = run_summary(
                pairwise_scores(read_clusters(run_dir / "splink.csv"), truth), run
            )
            progress.update(task, total=1, completed=1)
        progress.advance(overall)

    of, sp = results["onefold"], results["splink"]
    ratios = {
        key: ratio(of[field], sp[field]) if of and sp else None
        for key, field in (
            ("f1_ratio", "f1"),
            ("seconds_ratio", "seconds"),
            ("rss_ratio", "peak_rss_mb"),
        )
    }
    ceiling_recall = round(float(ceiling["recall"]), 4)
    ratios["ceiling_recall"] = ceiling_recall
    ratios["recall_of_ceiling"] = round(of["recall"] / ceiling_recall, 4) if of else None
    table = Table(
        caption="ratio = onefold / Splink; max = records in the largest cluster",
        title=f"identity resolution at {args.persons:,} persons ({records:,} person-level records)",
    )
    cols = ("tool", "prec.", "recall", "F1", "B³ F1", "max", "seconds", "peak MB")
    for col in cols:
        table.add_column(col, justify="left" if col == "tool" else "right", no_wrap=True)
    for tool, r in results.items():
        if r is None:
            table.add_row(
                tool, "skipped" if tool == "splink" and args.skip_splink else "[red]failed"
            )
            continue
        table.add_row(
            tool,
            f"{r['precision']:.4f}",
            f"{r['recall']:.4f}",
            f"{r['f1']:.4f}",
            f"{r['bcubed_f1']:.4f}",
            f"{r['largest_cluster']:,}",
            f"{r['seconds']:.1f}",
            f"{r['peak_rss_mb']:,.0f}",
        )
    table.add_section()

    def fmt(x: float | None) -> str:
        return "—" if x is None else f"{x:.2f}"

    table.add_row(
        "ratio",
        "",
        "",
        fmt(ratios["f1_ratio"]),
        "",
        "",
        fmt(ratios["seconds_ratio"]),
        fmt(ratios["rss_ratio"]),
    )
    console.print(table)
    console.print(
        f"shared-value ceiling (labels used: each person's records joined wherever they share "
        f"an identifier value): recall {ceiling_recall:.4f}; onefold reaches "
        f"{fmt(ratios['recall_of_ceiling'])} of it"
    )
    if args.json:
        out = {
            "benchmark": "identity_scale",
            "persons": args.persons,
            "seed": args.seed,
            "records": records,
            "threshold": SPLINK_THRESHOLD,
            **results,
            **ratios,
        }
        sys.stdout.write(orjson.dumps(out).decode() + "\n")


if __name__ == "__main__":
    main()
