"""Profile API latency: `GET /v1/profiles/{type}:{value}` on a workspace of N profiles.

1. A workspace with N profiles is built once and cached by (N, build, seed) under `--dir`
   (`--rebuild` to build again). The default build is synthetic and exact: a CRM export with
   one row per person (customer number, email, mobile, name, birth date, city, consent) and a
   shop's orders (0-4 per person, by the person's email, some with the phone) — N profiles,
   about 3N records, about 5N profile identifiers. `--build sample` uses the sample generator
   instead (all nine channels, shared values and hubs), with persons chosen to give about N
   profiles (the sample has about 2.65 profiles per person).
2. In process, before the server starts: the same lookups through the code the API runs —
   `server.profile_api.profile_answer` (normalise, find the profile, read its document:
   golden record, identifiers, traits, consents) and the orjson body — timed one by one
   (`direct_*`): what the queries cost without HTTP.
3. A real `onefold serve` on 127.0.0.1 and a read key: `--lookups` random existing emails and
   as many phones (values that name one profile), each as one keep-alive request
   (httpx), first sequentially — `email_p50_ms`, `email_p99_ms`, `phone_p50_ms`,
   `phone_p99_ms` — then from `--clients` concurrent clients (throughput and latency under
   load). The ratio HTTP / direct says what the server adds over the queries.

    python benchmarks/lookup.py --profiles 1000000 [--lookups 2000] [--clients 4] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import shutil
import ssl
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from _peers import ratio
from _serve import CpuMeter, PySpy, Server, percentiles, self_cpu_seconds
from onefold import Workspace
from onefold.clean.phones import normalise_phone
from onefold.collect.keys import create_key, revoke_key
from onefold.sample import generate
from onefold.server.profile_api import profile_answer

TARGET_P99_MS = 10.0
#: Profiles per person in the sample (2,653,763 profiles at 1M persons).
SAMPLE_PROFILES_PER_PERSON = 2.65
WARMUP = 100

FIRST = "ann bob chen dana eli fatima grace hiro ines jonas li maria noah olga priya quinn".split()
LAST = "smith wang garcia muller kim okafor rossi nguyen silva brown zhang lopez".split()
CITIES = ["New York", "Chicago", "Boston", "Seattle", "Austin", "Denver", "Miami", "Portland"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com"]
AREAS = ["212", "415", "312", "617", "646", "718", "206", "512", "303", "305", "503", "929"]

CRM_YML = """\
# Synthetic CRM contacts, one row per person (benchmarks/lookup.py).
name: crm
description: CRM contacts (synthetic, one row per person)
path: data/crm.csv
format: csv
channel: offline
system: CRM
update_frequency: daily
record_key: contact_id
phone_region: [US]
event_time:
  field: updated_at
  formats: ["%Y-%m-%d %H:%M:%S"]
event_type: contact_updated
identifiers:
  user_id: customer_no
  email: email
  phone: mobile
traits:
  first_name: first_name
  last_name: last_name
  birth_date: {field: birth_date, kind: date, formats: ["%Y-%m-%d"]}
  city: city
  country: country
consent:
  email_marketing: email_opt_in
"""

ORDERS_YML = """\
# Synthetic shop orders, by the buyer's email (benchmarks/lookup.py).
name: orders
description: Shop orders (synthetic)
path: data/orders.csv
format: csv
channel: online
system: Shop
update_frequency: hourly
record_key: order_id
phone_region: [US]
event_time:
  field: created_at
  formats: ["%Y-%m-%d %H:%M:%S"]
event_type: order_completed
identifiers:
  email: email
  phone: phone
  order_id: order_id
order:
  amount: total
  currency: currency
"""


def valid_exchanges() -> list[tuple[str, str]]:
    """(area code, exchange) pairs whose numbers the phone normaliser accepts."""
    out = []
    for area in AREAS:
        for exchange in range(200, 1000):
            if exchange % 100 == 11 or exchange == 555:
                continue
            if normalise_phone(f"+1{area}{exchange}0100", "US").status == "valid":
                out.append((area, str(exchange)))
    return out


def write_synthetic(root: Path, persons: int, seed: int) -> None:
    """`persons` people, each with a unique email, phone and customer number."""
    rng = random.Random(seed)
    exchanges = valid_exchanges()
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    (root / "sources" / "crm.yml").write_text(CRM_YML, encoding="utf-8")
    (root / "sources" / "orders.yml").write_text(ORDERS_YML, encoding="utf-8")
    order_no = 0
    with (
        (data / "crm.csv").open("w", encoding="utf-8") as crm,
        (data / "orders.csv").open("w", encoding="utf-8") as orders,
    ):
        crm.write(
            "contact_id,customer_no,email,mobile,first_name,last_name,birth_date,city,"
            "country,email_opt_in,updated_at\n"
        )
        orders.write("order_id,email,phone,total,currency,created_at\n")
        for i in range(persons):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{i}@{rng.choice(DOMAINS)}"
            area, exchange = exchanges[i % len(exchanges)]
            phone = f"+1 {area}-{exchange}-{i // len(exchanges):04d}"
            day = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}"
            crm.write(
                f"C{i:08d},CN{i:08d},{email},{phone},{first.title()},{last.title()},"
                f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d},{rng.choice(CITIES)},US,"
                f"{'yes' if i % 3 else 'no'},{day} 10:{i % 60:02d}:00\n"
            )
            for k in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
                order_no += 1
                shown = email.upper() if k % 2 else email  # the shop keeps what was typed
                orders.write(
                    f"O{order_no:09d},{shown},{phone if rng.random() < 0.3 else ''},"
                    f"{rng.uniform(5, 400):.2f},USD,2026-{1 + k:02d}-{1 + i % 28:02d} "
                    f"12:{k:02d}:00\n"
                )


def build(root: Path, profiles: int, how: str, seed: int, console: Console) -> dict[str, Any]:
    """Build (or reuse) the workspace; returns what it holds and how long building took."""
    stamp = root / "built.json"
    if stamp.exists():
        built: dict[str, Any] = orjson.loads(stamp.read_bytes())
        console.print(
            f"reusing {root} (built in {built['build_seconds']:.0f} s; --rebuild to rebuild)"
        )
        return built
    shutil.rmtree(root, ignore_errors=True)
    ws_root = root / "ws"
    t0 = time.perf_counter()
    Workspace.init(ws_root, f"lookup-{profiles}").close()
    if how == "synthetic":
        console.print(f"writing {profiles:,} synthetic persons")
        write_synthetic(ws_root, profiles, seed)
        persons = profiles
    else:
        persons = max(1, round(profiles / SAMPLE_PROFILES_PER_PERSON))
        console.print(f"generating the sample at {persons:,} persons")
        sample = root / "sample"
        generate(sample, persons=persons, seed=seed)
        shutil.copytree(sample / "sources", ws_root / "sources", dirs_exist_ok=True)
        (ws_root / "data").symlink_to((sample / "data").resolve())
    generated = time.perf_counter() - t0
    console.print("load + resolve")
    with Workspace(ws_root) as ws:
        t1 = time.perf_counter()
        ws.load()
        loaded = time.perf_counter() - t1
        result = ws.resolve()
        counts = {
            t: int(ws.engine.fetchone(f"SELECT count(*) FROM {t}"))
            for t in ("records", "profiles", "profile_identifiers", "record_profiles")
        }
    built = {
        "build": how,
        "persons": persons,
        "build_seconds": round(time.perf_counter() - t0, 1),
        "generate_seconds": round(generated, 1),
        "load_seconds": round(loaded, 1),
        "resolve_seconds": round(sum(result.seconds.values()), 1),
        **counts,
    }
    stamp.write_bytes(orjson.dumps(built))
    return built


def pick_refs(ws: Workspace, id_type: str, n: int, seed: int) -> list[str]:
    """`n` random `type:value` refs that name exactly one profile (sampled in SQL)."""
    rows = ws.engine.fetchall(  # the sample after the filter: a subquery
        "SELECT value FROM (SELECT value FROM profile_identifiers WHERE id_type = ? "
        f"AND NOT shared) USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})",
        [id_type],
    )
    refs = [f"{id_type}:{r[0]}" for r in rows]
    random.Random(seed).shuffle(refs)
    return refs


def direct(ws: Workspace, ref: str) -> bytes:
    """What the API's profile handler runs for `ref`, without HTTP: the same function."""
    return bytes(profile_answer(ws, ref).body)


def time_direct(ws: Workspace, refs: list[str], budget: float = float("inf")) -> list[float]:
    out: list[float] = []
    stop = time.perf_counter() + budget
    for ref in refs:
        t0 = time.perf_counter()
        direct(ws, ref)
        out.append(time.perf_counter() - t0)
        if t0 > stop:
            break
    return out


_TLS = ssl.create_default_context()  # plain HTTP; one context instead of one per client


def headers(read_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{read_key}:".encode()).decode()}


def path(ref: str) -> str:
    return "/v1/profiles/" + quote(ref, safe=":@")


def sequential(
    url: str, key: str, refs: list[str], budget: float = float("inf")
) -> tuple[list[float], float]:
    """One keep-alive connection, one request at a time; latencies and client CPU ms each."""
    out: list[float] = []
    cpu0 = self_cpu_seconds()
    stop = time.perf_counter() + budget
    with httpx.Client(base_url=url, headers=headers(key), verify=_TLS, timeout=30) as c:
        for ref in refs:
            t0 = time.perf_counter()
            r = c.get(path(ref))
            out.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"GET {path(ref)}: {r.status_code} {r.text[:300]}")
            if t0 > stop:
                break
    return out, (self_cpu_seconds() - cpu0) / max(len(out), 1) * 1000


async def _concurrent(
    url: str, key: str, refs: list[str], clients: int, budget: float
) -> list[float]:
    out: list[float] = []
    todo = iter(refs)
    stop = time.perf_counter() + budget

    async def one(c: httpx.AsyncClient) -> None:
        for ref in todo:
            t0 = time.perf_counter()
            if t0 > stop:
                return
            r = await c.get(path(ref))
            out.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"GET {path(ref)}: {r.status_code} {r.text[:300]}")

    conns = [
        httpx.AsyncClient(
            base_url=url,
            headers=headers(key),
            verify=_TLS,
            timeout=30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for _ in range(clients)
    ]
    try:
        await asyncio.gather(*(one(c) for c in conns))
    finally:
        await asyncio.gather(*(c.aclose() for c in conns))
    return out


def concurrent(
    url: str, key: str, refs: list[str], clients: int, budget: float
) -> tuple[list[float], float]:
    t0 = time.perf_counter()
    out = asyncio.run(_concurrent(url, key, refs, clients, budget))
    return out, len(out) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--profiles", type=int, default=1_000_000)
    ap.add_argument("--build", choices=("synthetic", "sample"), default="synthetic")
    ap.add_argument("--lookups", type=int, default=2000, help="per identifier type")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients, last phase")
    ap.add_argument(
        "--budget", type=float, default=60, help="seconds at most per series (fewer lookups)"
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=Path("bench-data"), help="cache folder")
    ap.add_argument("--rebuild", action="store_true", help="build the workspace again")
    ap.add_argument("--py-spy", type=Path, metavar="DIR", help="py-spy record the server")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    out_tty = (sys.stderr if args.json else sys.stdout).isatty()
    console = Console(stderr=args.json, width=None if out_tty else 132)  # a wide table
    began = time.perf_counter()

    root = (args.dir / f"lookup-{args.build}-{args.profiles}-{args.seed}").resolve()
    if args.rebuild:
        shutil.rmtree(root, ignore_errors=True)
    built = build(root, args.profiles, args.build, args.seed, console)
    ws_root = root / "ws"
    n = args.lookups
    with Workspace(ws_root) as ws:
        _, read_key = create_key(ws.engine, "read", note="benchmarks/lookup.py")
        refs = {
            t: pick_refs(ws, t, 2 * n + 2 * WARMUP, args.seed + i)
            for i, t in enumerate(("email", "phone"))
        }
        console.print(f"in process: {n:,} lookups by email and {n:,} by phone")
        time_direct(ws, refs["email"][-WARMUP:] + refs["phone"][-WARMUP:])  # warm the cache
        direct_ms = {t: time_direct(ws, refs[t][:n], args.budget) for t in ("email", "phone")}
    results: dict[str, Any] = {"direct": {}}
    for t, lat in direct_ms.items():
        results["direct"][t] = {"lookups": len(lat), **percentiles(lat)}

    server = Server(ws_root, root / "server.log", ("--no-realtime",)).start()
    try:
        console.print(f"onefold serve pid {server.pid}: warming up, then sequential lookups")
        sequential(server.url, read_key, refs["email"][-WARMUP:] + refs["phone"][-WARMUP:])
        spy = PySpy(args.py_spy, server, "lookup", 30)
        with CpuMeter(server) as cpu:
            for t in ("email", "phone"):
                lat, client_ms = sequential(server.url, read_key, refs[t][:n], args.budget)
                results.update(percentiles(lat, f"{t}_"))
                results[f"{t}_lookups"] = len(lat)
                results[f"{t}_client_cpu_ms"] = round(client_ms, 3)
        spy.wait()
        results["sequential_cores"] = {
            "server": cpu.server_cores,
            "client": cpu.client_cores,
            "other": cpu.other_cores,
            "steal": cpu.steal_cores,
        }
        console.print(f"{args.clients} concurrent clients")
        half = (n + 1) // 2
        pairs = zip(refs["email"][n : n + half], refs["phone"][n : n + half], strict=True)
        mixed = [r for pair in pairs for r in pair][:n]
        with CpuMeter(server) as cpu:
            lat, per_s = concurrent(server.url, read_key, mixed, args.clients, args.budget)
        results["concurrent"] = {
            "clients": args.clients,
            "lookups": len(lat),
            "requests_per_s": round(per_s, 1),
            **percentiles(lat),
            "cores": {
                "server": cpu.server_cores,
                "client": cpu.client_cores,
                "other": cpu.other_cores,
                "steal": cpu.steal_cores,
            },
        }
        results["server_rss_mb"] = round(server.rss_mb())
    finally:
        server.stop()
    with Workspace(ws_root) as ws:  # leave no read key behind in the cached workspace
        for row in ws.engine.fetchall(
            "SELECT key_id FROM api_keys WHERE note = 'benchmarks/lookup.py' AND revoked_at IS NULL"
        ):
            revoke_key(ws.engine, str(row[0]))
    for t in ("email", "phone"):
        d = results["direct"][t]
        results[f"{t}_p50_vs_direct"] = ratio(results[f"{t}_p50_ms"], d["p50_ms"])
        results[f"{t}_p99_vs_direct"] = ratio(results[f"{t}_p99_ms"], d["p99_ms"])
    results["seconds"] = round(time.perf_counter() - began, 1)

    show(console, args, built, results)
    if args.json:
        out = {
            "benchmark": "lookup",
            "profiles_requested": args.profiles,
            **built,
            "lookups": n,
            **results,
            "target_p99_ms": TARGET_P99_MS,
            "met": all(results[f"{t}_p99_ms"] <= TARGET_P99_MS for t in ("email", "phone")),
        }
        sys.stdout.write(orjson.dumps(out).decode() + "\n")


def show(
    console: Console, args: argparse.Namespace, built: dict[str, Any], r: dict[str, Any]
) -> None:
    table = Table(
        title=f"Profile API: {built['profiles']:,} profiles, {built['records']:,} records "
        f"({args.build} build)",
        caption=f"HTTP: keep-alive, one request at a time unless said; direct: the handler's "
        f"code in process, no HTTP; ratio = HTTP / direct. Target: p99 ≤ {TARGET_P99_MS:g} ms",
    )
    cols = ("lookup", "n", "p50 ms", "p99 ms", "max ms", "p99 target", "direct p50", "direct p99")
    for col in (*cols, "ratio p50", "ratio p99"):
        table.add_column(col, justify="left" if col == "lookup" else "right")
    for t in ("email", "phone"):
        d = r["direct"][t]
        ok = r[f"{t}_p99_ms"] <= TARGET_P99_MS
        table.add_row(
            f"{t}_*",
            f"{r[f'{t}_lookups']:,}",
            f"{r[f'{t}_p50_ms']:.2f}",
            f"{r[f'{t}_p99_ms']:.2f}",
            f"{r[f'{t}_max_ms']:.1f}",
            "[green]met[/]" if ok else "[red]missed[/]",
            f"{d['p50_ms']:.2f}",
            f"{d['p99_ms']:.2f}",
            f"{r[f'{t}_p50_vs_direct']}",
            f"{r[f'{t}_p99_vs_direct']}",
        )
    c = r["concurrent"]
    table.add_section()
    table.add_row(
        f"mixed, {c['clients']} clients",
        f"{c['lookups']:,}",
        f"{c['p50_ms']:.2f}",
        f"{c['p99_ms']:.2f}",
        f"{c['max_ms']:.1f}",
        f"{c['requests_per_s']:,.0f}/s",
        "",
        "",
        "",
        "",
    )
    console.print(table)
    sc, cc = r["sequential_cores"], c["cores"]

    def cores(x: dict[str, float]) -> str:
        return " / ".join(f"{x[k]:.2f}" for k in ("server", "client", "other", "steal"))

    console.print(
        f"cores (server / client / other processes / stolen by the hypervisor): sequential "
        f"{cores(sc)}; concurrent {cores(cc)}. httpx client CPU per request "
        f"{r['email_client_cpu_ms']:.2f} ms. Server RSS {r['server_rss_mb']:,} MB."
    )
    console.print(
        f"build: {built['build_seconds']:.0f} s (generate {built['generate_seconds']:.0f}, "
        f"load {built['load_seconds']:.0f}, resolve {built['resolve_seconds']:.0f}); "
        f"this run {r['seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
