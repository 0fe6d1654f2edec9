"""Real-time identity resolution: one new identify event against a large workspace.

1. The sample at N persons (all nine sources) is loaded and resolved in full (timed: what a
   nightly batch costs).
2. K Segment `identify` events are made from that workspace, in three kinds a CDP sees all
   day: *login* (a known browser cookie now tied to the email of another known profile: two
   profiles merge), *returning* (a known account id with a new phone), and *new* (a visitor
   nobody has seen). Each is sent on its own through `Workspace.ingest` to the workspace's
   HTTP source (`api`, the mapping `onefold sources add-http` writes) — checked and stored
   as `onefold serve` stores it, cleaned, resolved against the existing graph and its
   profile rewritten, committed — and timed, after one event of each kind to warm up (a
   server that has been running); then one batch of the same size is resolved in one
   incremental run.
3. Splink 5 in the same run: trained (u by random sampling, m by EM, term frequencies) on
   onefold's cleaned person-level values — the same input identity_scale gives it — and then,
   for each of the same events flattened to its columns, `predict_between(existing, new)`:
   Splink's documented way to score new records against existing ones. That only scores
   pairs; it does not update clusters, so it is a lower bound on Splink's real-time cost.

Each tool runs in its own process (`_peers.py`). `--overrides N` first adds N cannot-links
between profiles (a workspace in use has some; see `identity.override_hold`).

    python benchmarks/incremental.py --persons 400000 --events 300 [--overrides 100] [--json]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from _peers import ratio, run_peer, run_progress
from identity_scale import FLAT_SQL, PERSON_SOURCES, splink_spec
from onefold import Workspace
from onefold.collect.http_source import write_http_source
from pipeline import ensure_sample

EVENT_KINDS = ("login", "returning", "new")
#: The HTTP source the events are sent to, as `onefold sources add-http api` writes it.
HTTP_SOURCE = "api"

#: Profiles to draw events from: a cookie, an email, an account id (each may be missing).
CANDIDATES_SQL = """
    SELECT p.profile_id,
           any_value(i.value) FILTER (WHERE i.id_type = 'anonymous_id' AND NOT i.shared) AS anon,
           any_value(p.email) AS email, any_value(p.user_id) AS user_id
    FROM profiles p JOIN profile_identifiers i USING (profile_id)
    GROUP BY p.profile_id
    USING SAMPLE reservoir(50000 ROWS) REPEATABLE (11)
"""


def make_events(ws: Workspace, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` identify events per kind, drawn from the workspace's own profiles."""
    rng = random.Random(seed)
    rows = ws.engine.fetchall(CANDIDATES_SQL)
    anons = [r for r in rows if r[1] and not r[2]]
    emails = [r for r in rows if r[2]]
    accounts = [r for r in rows if r[3]]
    events: list[dict[str, Any]] = []
    for i in range(count):
        kind = EVENT_KINDS[i % 3]
        ev: dict[str, Any] = {
            "type": "identify",
            "messageId": f"bench-{seed}-{i}",
            "timestamp": f"2026-11-{1 + i % 28:02d}T10:{i % 60:02d}:00Z",
            "traits": {},
            "context": {"library": {"name": "benchmark"}},
        }
        if kind == "login":
            ev["anonymousId"] = rng.choice(anons)[1]
            ev["traits"]["email"] = rng.choice(emails)[2]
        elif kind == "returning":
            ev["userId"] = rng.choice(accounts)[3]
            ev["traits"]["phone"] = f"+1415{rng.randrange(10**7):07d}"
        else:
            ev["anonymousId"] = f"bench-anon-{seed}-{i}"
            ev["traits"]["email"] = f"bench.{seed}.{i}@mail.org"
            ev["traits"]["phone"] = f"+1628{rng.randrange(10**7):07d}"
        ev["kind"] = kind
        events.append(ev)
    return events


#: The note on the overrides `--overrides` adds (they are counted by it, so a reused
#: workspace gets only the ones it lacks).
OVERRIDE_NOTE = "benchmark: two look-alike customers"


def add_overrides(ws: Workspace, count: int, seed: int) -> int:
    """Up to `count` cannot-links, each between two records of different profiles — a data
    steward's "not the same person" — so that the workspace has overrides, as one in
    production does. Being between profiles already apart, they change no profile, and the
    workspace needs no full run to apply them. Returns how many the workspace holds."""
    have = int(ws.engine.fetchone("SELECT count(*) FROM overrides WHERE note = ?", [OVERRIDE_NOTE]))
    if have < count:
        rows = ws.engine.fetchall(
            "SELECT source, record_key, profile_id FROM record_profiles "
            f"USING SAMPLE reservoir({4 * (count - have)} ROWS) REPEATABLE ({int(seed)})"
        )
        pairs = [(a, b) for a, b in zip(rows[::2], rows[1::2], strict=False) if a[2] != b[2]]
        for a, b in pairs[: count - have]:
            ws.add_override("cannot_link", f"{a[0]}/{a[1]}", f"{b[0]}/{b[1]}", OVERRIDE_NOTE)
    return int(ws.engine.fetchone("SELECT count(*) FROM overrides"))


def flatten(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events as rows of identity_scale's flat table (what Splink sees of them)."""
    out = []
    for ev in events:
        out.append(
            {
                "unique_id": f"{HTTP_SOURCE}/" + ev["messageId"],
                "name_key": None,
                "first_name_key": None,
                "last_name_key": None,
                "birth_date": None,
                "email": ev["traits"].get("email"),
                "phone": ev["traits"].get("phone"),
                "user_id": ev.get("userId"),
                "loyalty_card": None,
                "wechat_unionid": None,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--persons", type=int, default=400_000)
    ap.add_argument("--events", type=int, default=300, help="events timed one by one")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path("bench-data"))
    ap.add_argument("--skip-splink", action="store_true")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep the workspace a previous run built and resolved (its full-run figures too)",
    )
    ap.add_argument(
        "--event-seed",
        type=int,
        help="seed of the events (default --seed; with --reuse pick a new one: resent "
        "message ids are corrections, which take the region run)",
    )
    ap.add_argument(
        "--overrides",
        type=int,
        default=0,
        help="cannot-links to add between profiles before the events (a workspace in use has some)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    console = Console(stderr=args.json)
    data = ensure_sample(args.dir, args.persons, args.seed, console)
    run_dir = (args.dir / f"incremental-{args.persons}-{args.seed}").resolve()
    ws_root = run_dir / "ws"
    built = run_dir / "onefold-result.json"
    reuse = (
        args.reuse
        and built.exists()
        and (ws_root / "sources" / f"{HTTP_SOURCE}.yml").exists()  # built before it had one
    )
    if not reuse:
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        Workspace.init(ws_root, "incremental").close()
        shutil.copytree(data / "sources", ws_root / "sources", dirs_exist_ok=True)
        write_http_source(ws_root / "sources", HTTP_SOURCE)
        (ws_root / "data").symlink_to((data / "data").resolve())
    event_seed = args.seed if args.event_seed is None else args.event_seed

    results: dict[str, Any] = {}
    with run_progress(console) as (progress, overall):
        progress.update(overall, total=4)
        task = progress.add_task("onefold full load + resolve", total=None)
        if reuse:
            results["full"] = orjson.loads(built.read_bytes())
        else:
            results["full"] = run_peer(
                "onefold",
                {"workspace": str(ws_root), "clusters_out": str(run_dir / "full.csv")},
                run_dir,
            )
        progress.update(task, total=1, completed=1)
        progress.advance(overall)

        with Workspace(ws_root) as ws:
            profiles = int(ws.engine.fetchone("SELECT count(*) FROM profiles"))
            records = int(ws.engine.fetchone("SELECT count(*) FROM records"))
            overrides = add_overrides(ws, args.overrides, args.seed)
            events = make_events(ws, args.events, event_seed)
            batch = make_events(ws, args.events, event_seed + 1)
            warm = make_events(ws, 1, event_seed + 2) + make_events(ws, 3, event_seed + 3)[1:]
            flat = run_dir / "flat.parquet"
            sources = ", ".join(f"'{s}'" for s in PERSON_SOURCES)
            person_level = FLAT_SQL.replace(
                "FROM records r LEFT JOIN w USING (rid)",
                f"FROM records r LEFT JOIN w USING (rid) WHERE r.source IN ({sources})",
            )
            ws.engine.execute(f"COPY ({person_level}) TO '{flat}' (FORMAT parquet)")
        warm_path = run_dir / "warm.jsonl"
        warm_path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in warm))
        events_path = run_dir / "events.jsonl"
        events_path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
        batch_path = run_dir / "batch.jsonl"
        batch_path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in batch))

        task = progress.add_task(f"onefold: {args.events} events one by one", total=None)
        spec = {
            "workspace": str(ws_root),
            "events": str(events_path),
            "batch": str(batch_path),
            "source": HTTP_SOURCE,
            "warm": str(warm_path),
        }
        results["onefold"] = run_peer("onefold_realtime", spec, run_dir)
        progress.update(task, total=1, completed=1)
        progress.advance(overall)

        if not args.skip_splink:
            task = progress.add_task("splink: train, then predict_between per event", total=None)
            new_path = run_dir / "new.jsonl"
            new_path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in flatten(events)))
            sp = splink_spec(flat, run_dir / "splink.csv")
            sp["new_records"] = str(new_path)
            results["splink"] = run_peer("splink_realtime", sp, run_dir)
            progress.update(task, total=1, completed=1)
        progress.advance(overall)

    of, sp_r = results["onefold"], results.get("splink")
    held = f", {overrides:,} overrides" if overrides else ""
    table = Table(
        title=f"one identify event at a time: {profiles:,} profiles, {records:,} records{held}",
        caption="ratio = onefold / Splink (Splink only scores pairs; onefold also commits "
        "the updated profile)",
    )
    for col in ("tool", "median ms", "p99 ms", "max ms", "events/s", "setup s"):
        table.add_column(col, justify="left" if col == "tool" else "right", no_wrap=True)
    table.add_row(
        "onefold",
        f"{of['median_ms']:.1f}",
        f"{of['p99_ms']:.1f}",
        f"{of['max_ms']:.1f}",
        f"{of['events_per_s']:.1f}",
        f"{results['full']['seconds']:.1f}",
    )
    ratios: dict[str, float | None] = {}
    if sp_r:
        table.add_row(
            "Splink 5",
            f"{sp_r['median_ms']:.1f}",
            f"{sp_r['p99_ms']:.1f}",
            f"{sp_r['max_ms']:.1f}",
            f"{sp_r['events_per_s']:.1f}",
            f"{sp_r['train_seconds']:.1f}",
        )
        ratios = {
            "median_ratio": ratio(of["median_ms"], sp_r["median_ms"]),
            "p99_ratio": ratio(of["p99_ms"], sp_r["p99_ms"]),
        }
        table.add_section()
        table.add_row(
            "ratio", f"{ratios['median_ratio']:.3f}", f"{ratios['p99_ratio']:.3f}", "", "", ""
        )
    console.print(table)
    by_kind = Table(title="onefold per event kind")
    for col in (
        "kind",
        "events",
        "median ms",
        "p99 ms",
        "mean region profiles",
        "fast path",
        "express",
    ):
        by_kind.add_column(col, justify="left" if col == "kind" else "right")
    for kind, k in of["by_kind"].items():
        by_kind.add_row(
            kind,
            str(k["events"]),
            f"{k['median_ms']:.1f}",
            f"{k['p99_ms']:.1f}",
            f"{k['mean_region_profiles']:.1f}",
            f"{k['fast_path_share']:.0%}",
            f"{k['express_share']:.0%}",
        )
    console.print(by_kind)
    phases = of["phase_median_ms"]
    console.print(
        "where an event's time goes (median ms each): "
        f"cleaning {phases['clean']:.1f}, deciding {phases['decide']:.1f}, "
        f"writing the rows {phases['write']:.1f}, the rest (landing, the run's bookkeeping, "
        f"commits) {phases['other']:.1f}"
    )
    console.print(
        f"batch of {args.events} events in one incremental run: "
        f"{of['batch_seconds']:.2f} s, against {results['full']['seconds']:.1f} s for the "
        f"full load + resolve ({ratio(of['batch_seconds'], results['full']['seconds'])}×); "
        f"logins that merged two profiles: {of['merged_logins']} of "
        f"{of['by_kind']['login']['events']}"
    )
    if args.json:
        out = {
            "benchmark": "incremental",
            "persons": args.persons,
            "profiles": profiles,
            "records": records,
            "events": args.events,
            "overrides": overrides,
            "median_ms": of["median_ms"],
            "p99_ms": of["p99_ms"],
            "full_seconds": results["full"]["seconds"],
            "batch_seconds": of["batch_seconds"],
            "onefold": of,
            "splink": sp_r,
            **ratios,
        }
        sys.stdout.write(orjson.dumps(out).decode() + "\n")


if __name__ == "__main__":
    main()
