"""The express path: a few collected messages resolved in milliseconds, not hundreds of them.

The fast path (`identity.fast_path`) decides with a few indexed reads, but writes through
SQL — staged temp tables, then statements that rebuild each touched profile's rows — and
those statements, like the batch cleaning's, cost DuckDB far more to *plan* than to run
(an event at 1M profiles spent ~250 ms, nearly all of it planning ~100 statements). For a
handful of messages from collected (HTTP) sources, this module does the same work with no
statement that needs planning to speak of:

- the records are cleaned in Python, by the normalisers the batch stage uses
  (`clean.express`);
- the fast path's own decision (`plan_fast`) places them — the same checks, so the same
  profiles, or nothing happens here;
- each touched profile's new rows — identifiers summed, trait and consent winners, the
  golden record, the document — are computed in Python from its current rows and the new
  records, by the rules the SQL of `profiles.build` and `fast_path` states, and written as
  plain inserts.

What it does not take it declines *before writing anything* (None), and the caller runs the
batch stages: a file (not collected) load, an order (its amount is checked and summed in
SQL), a value the two could read differently (see `clean.express`), records the fast path
leaves to the region run, a golden-record choice that only row order would settle (two
emails seen at the same instant), or a name whose script the Python check cannot be sure
of. The tests resolve the same events through this path, the batch stages and a full run,
and compare every table they write.

At 1M profiles an event now takes ~40 ms (`benchmarks/incremental.py`), about half of it
the ~25 statements and two commits that remain — on this engine each costs a millisecond
or more whatever its size.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from onefold.clean.express import CleanRecord, ExpressCleaner
from onefold.config.settings import IdentitySettings
from onefold.engine.base import Engine
from onefold.engine.sql import literal_list
from onefold.identity.fast_path import (
    NAME_TRAITS,
    ConflictCache,
    FastPlan,
    FastResult,
    NewRecord,
    plan_fast,
)
from onefold.identity.override_hold import NO_HOLD, OverrideHold

#: More new records than this go through the batch stages (whose cost does not grow with
#: the count): the express path's inserts carry every row as statement parameters.
EXPRESS_MAX_RECORDS = 64
_PROFILE_COLUMNS = (
    "profile_id name email phone user_id birth_date gender country city first_seen last_seen "
    "channels sources source_count records orders revenue identifiers"
).split()
_GOLDEN_TRAITS = ("full_name", "first_name", "last_name", "birth_date", "gender", "country", "city")


class Declined(Exception):
    """The express path does not take these records; nothing has been written."""


@dataclass(frozen=True)
class ExpressResult:
    records: int
    values: int
    #: invalid and junk values written to the rejects
    rejects: int
    #: values kept but flagged (`clean.stage` counts them for the run's result)
    suspicious: int
    #: seconds reading and cleaning the messages (the plan and the writes are in `fast`)
    cleaning: float
    fast: FastResult


def resolve_express(
    engine: Engine,
    cleaner: ExpressCleaner,
    settings: IdentitySettings,
    source_priority: tuple[str, ...],
    sources: Sequence[str],
    after: int,
    until: int,
    base: int,
    run_id: int,
    conflicts: ConflictCache,
    *,
    graph_run: int | None = None,
    top_node: int | None = None,
    held: OverrideHold = NO_HOLD,
) -> ExpressResult | None:
    """Clean and place the records landed in (after, until] for `sources` (all collected),
    rids from base + 1; None (nothing written) when the express path declines them.

    Writes inside the caller's transaction.
    """
    t0 = time.perf_counter()
    cleaned = cleaner.clean(engine, sorted(sources), after, until, base)
    if not cleaned:
        return None
    cleaning = time.perf_counter() - t0
    records = {r.rid: _identity_record(r) for r in cleaned}
    plan = plan_fast(
        engine,
        records,
        settings,
        source_priority,
        run_id,
        conflicts,
        graph_run=graph_run,
        top_node=top_node,
        documents=True,
        held=held,
    )
    if plan.rest:
        return None
    t1 = time.perf_counter()
    try:
        writes = _ProfileWrites(plan, cleaned, source_priority)
    except Declined:
        return None
    plan.deciding = t1 - t0 - cleaning
    _write(engine, plan, cleaned, writes, settings, run_id)
    values = sum(len(r.values) for r in cleaned)
    rejects = sum(len(r.rejects) for r in cleaned)
    suspicious = sum(v.status == "suspicious" for r in cleaned for v in r.values)
    writing = time.perf_counter() - t1
    return ExpressResult(len(cleaned), values, rejects, suspicious, cleaning, plan.result(writing))


def _identity_record(r: CleanRecord) -> NewRecord:
    """What `fast_path._new_records` reads of a record: its usable identifiers (distinct,
    sorted) and whether it carries a usable name with a key."""
    rec = NewRecord(r.rid, r.row.source, r.row.record_key)
    rec.values = sorted(
        {(v.name, str(v.value)) for v in r.values if v.role == "identifier" and v.usable}
    )
    rec.named = any(
        v.role == "trait" and v.name in NAME_TRAITS and v.usable and v.key is not None
        for v in r.values
    )
    return rec


def _least(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _newest_first(t: datetime | None) -> tuple[bool, int]:
    """Sort key for `observed_at DESC NULLS LAST` (whole microseconds: a float timestamp
    cannot tell two of them apart in this century)."""
    return (t is None, -((t - _EPOCH) // timedelta(microseconds=1)) if t is not None else 0)


class _ProfileWrites:
    """Every touched profile's rows after the new records joined it (see `profiles.build`)."""

    def __init__(
        self,
        plan: FastPlan,
        cleaned: list[CleanRecord],
        source_priority: tuple[str, ...],
    ) -> None:
        survivor = {a: s for a, s in plan.absorbed}

        def target(pid: str) -> str:
            return survivor.get(pid, pid)

        self.targets = sorted({target(p) for p in plan.existing} | set(plan.created))
        rank = {s: i for i, s in enumerate(source_priority)}
        worst = len(source_priority)
        by_rid = {r.rid: r for r in cleaned}
        placed = dict(plan.placed)
        docs = plan.documents or {}
        old_profiles = {p: docs[p][0] for p in plan.existing}
        old_traits = [(p, *t) for p in plan.existing for t in docs[p][2]]
        old_consents = [(p, *c) for p in plan.existing for c in docs[p][3]]

        # identifiers: the old rows (a merged profile's under its survivor) plus the new
        ids: dict[tuple[str, str, str], list[Any]] = {}
        for pid, t, v, shared, records, first, last, sources in plan.id_rows:
            row = ids.setdefault((target(pid), t, v), [0, None, None, set(), False])
            row[0] += int(records)
            row[1], row[2] = _least(row[1], first), _greatest(row[2], last)
            row[3].update(sources)
            row[4] = row[4] or bool(shared)
        for rid, _node, t, v, _new in sorted(set(plan.node_rows)):
            r = by_rid[rid]
            row = ids.setdefault((placed[rid], t, v), [0, None, None, set(), False])
            row[0] += 1
            row[1], row[2] = _least(row[1], r.row.observed), _greatest(row[2], r.row.observed)
            row[3].add(r.row.source)
        self.identifiers = [
            (pid, t, v, n, first, last, sorted(sources), shared)
            for (pid, t, v), (n, first, last, sources, shared) in sorted(ids.items())
        ]

        # trait and consent winners: the old winner against the new candidates
        changed_traits: set[str] = {survivor[a] for a, _ in plan.absorbed}
        cands: list[tuple[str, str, str, Any, str, datetime | None, int]] = []
        for pid, trait, value, source, observed in old_traits:
            cands.append(("trait", target(pid), trait, value, source, observed, -1))
        for pid, purpose, status, source, observed in old_consents:
            cands.append(("consent", target(pid), purpose, status, source, observed, -1))
        for r in cleaned:
            for v in r.values:
                if (v.role == "trait" and v.usable) or (
                    v.role == "consent" and v.status == "valid"
                ):
                    pid = placed[r.rid]
                    cands.append(
                        (v.role, pid, v.name, v.value, r.row.source, r.row.observed, r.rid)
                    )
                    changed_traits.add(pid)
        # ORDER BY rank, observed_at DESC NULLS LAST, rid DESC (consents: no rank); an old
        # winner counts as rid -1
        Order = tuple[int, bool, int]
        best: dict[tuple[str, str, str], tuple[Order, int, tuple[Any, ...]]] = {}
        for kind, pid, name, value, source, observed, rid in cands:
            order = (rank.get(source, worst) if kind == "trait" else 0, *_newest_first(observed))
            entry = (pid, name, value, source, observed)
            held = best.get((kind, pid, name))
            if held is None or (order, -rid) < (held[0], -held[1]):
                best[(kind, pid, name)] = (order, rid, entry)
        # A tie on rank and time is settled by rid, which is sure to order an old winner
        # before a new record. Between two new rows the batch stage's rids follow landing
        # order, and a merge's old winners all count as -1 here; a tie between two
        # different new rows, or two different old ones, is declined rather than settled.
        for kind, pid, name, value, source, observed, rid in cands:
            won_order, won_rid, won = best[(kind, pid, name)]
            order = (rank.get(source, worst) if kind == "trait" else 0, *_newest_first(observed))
            same_age = (rid < 0) == (won_rid < 0)
            if order == won_order and same_age and (value, source) != won[2:4]:
                raise Declined
        self.traits = [row for (kind, *_), (_, _, row) in sorted(best.items()) if kind == "trait"]
        self.consents = [
            row for (kind, *_), (_, _, row) in sorted(best.items()) if kind == "consent"
        ]
        #: profiles whose trait and consent rows change (a merge's absorbed ones go)
        self.rewrite_traits = sorted(changed_traits | set(plan.created))
        self.trait_scope = sorted(
            (changed_traits & set(plan.existing)) | {a for a, _ in plan.absorbed}
        )
        self.existing = plan.existing

        # the golden record
        acts: dict[str, dict[str, Any]] = {}
        for p in plan.existing:
            old = old_profiles[p]
            a = acts.setdefault(target(p), _no_activity())
            a["records"] += old["records"]
            a["orders"] += old["orders"]
            a["first_seen"] = _least(a["first_seen"], old["first_seen"])
            a["last_seen"] = _greatest(a["last_seen"], old["last_seen"])
            a["channels"].update(old["channels"] or ())
            a["sources"].update(old["sources"] or ())
            if old["revenue"] is not None:
                if a["revenue"] is not None:
                    raise Declined  # two revenues summed: SQL's rounding, not Python's
                a["revenue"] = old["revenue"]
        for r in cleaned:
            a = acts.setdefault(placed[r.rid], _no_activity())
            a["records"] += 1
            a["first_seen"] = _least(a["first_seen"], r.row.observed)
            a["last_seen"] = _greatest(a["last_seen"], r.row.observed)
            a["channels"].add(r.row.channel)
            a["sources"].add(r.row.source)
        winners: dict[str, dict[str, Any]] = {}
        for pid, trait, value, _source, _observed in self.traits:
            winners.setdefault(pid, {})[trait] = value
        self.profiles = [
            _profile_row(pid, acts[pid], winners.get(pid, {}), self.identifiers)
            for pid in self.targets
        ]


def _no_activity() -> dict[str, Any]:
    return {
        "records": 0,
        "orders": 0,
        "first_seen": None,
        "last_seen": None,
        "channels": set(),
        "sources": set(),
        "revenue": None,
    }


def _latest(
    rows: Iterable[tuple[Any, ...]], pid: str, id_type: str, *, shared_too: bool
) -> str | None:
    """arg_max(value, last_seen) over `pid`'s identifiers of `id_type`; a tie on the latest
    time is settled by row order in SQL, so it is declined here."""
    best: list[tuple[datetime | None, str]] = [
        (last, v)
        for p, t, v, _n, _first, last, _sources, shared in rows
        if p == pid and t == id_type and (shared_too or not shared)
    ]
    if not best:
        return None
    top = max((t for t, _ in best if t is not None), default=None)
    if top is None:
        raise Declined
    values = [v for t, v in best if t == top]
    if len(values) > 1:
        raise Declined
    return values[0]


def _han_only(text: str) -> bool:
    """regexp_matches(text, '^\\p{Han}+$'), for the characters Python can be sure of: a name
    with other CJK characters (radicals, compatibility ideographs, 々) is declined."""
    if not text:
        return False
    han = True
    for ch in text:
        name = unicodedata.name(ch, "")
        if name.startswith("CJK UNIFIED IDEOGRAPH"):
            continue
        han = False
        if ord(ch) > 0x2E7F and (name.startswith(("CJK", "IDEOGRAPHIC", "KANGXI")) or not name):
            raise Declined
    return han


def _display_name(t: dict[str, Any]) -> str | None:
    """`profiles.build.PROFILE_ROW`'s name: the full name, else the parts in their script's
    order (family name first for Chinese)."""
    if t.get("full_name") is not None:
        return str(t["full_name"])
    first, last = t.get("first_name"), t.get("last_name")
    if _han_only((last or "") + (first or "")):
        return None if first is None or last is None else str(last) + str(first)
    joined = " ".join(str(x) for x in (first, last) if x is not None).strip(" ")
    return joined or None


def _profile_row(
    pid: str, a: dict[str, Any], t: dict[str, Any], identifiers: list[tuple[Any, ...]]
) -> dict[str, Any]:
    sources = sorted(a["sources"])
    return {
        "profile_id": pid,
        "name": _display_name(t),
        "email": _latest(identifiers, pid, "email", shared_too=False),
        "phone": _latest(identifiers, pid, "phone", shared_too=False),
        "user_id": _latest(identifiers, pid, "user_id", shared_too=True),
        **{k: t.get(k) for k in _GOLDEN_TRAITS[3:]},
        "first_seen": a["first_seen"],
        "last_seen": a["last_seen"],
        "channels": sorted(a["channels"]),
        "sources": sources,
        "source_count": len(sources),
        "records": a["records"],
        "orders": a["orders"],
        "revenue": a["revenue"],
        "identifiers": sum(1 for r in identifiers if r[0] == pid),
    }


def _insert(engine: Engine, table: str, rows: Sequence[Sequence[Any]], step: str) -> None:
    """One INSERT for all `rows`, the values as parameters."""
    if not rows:
        return
    width = len(rows[0])
    one = "(" + ", ".join("?" * width) + ")"
    engine.execute(
        f"INSERT INTO {table} VALUES " + ", ".join([one] * len(rows)),
        [x for row in rows for x in row],
        step=step,
    )


def _write(
    engine: Engine,
    plan: FastPlan,
    cleaned: list[CleanRecord],
    w: _ProfileWrites,
    settings: IdentitySettings,
    run_id: int,
) -> None:
    step = "express: write"
    _insert(engine, "records", [r.row for r in cleaned], step)
    _insert(engine, "record_values", [v for r in cleaned for v in r.values], step)
    now = datetime.now(UTC)
    _insert(engine, "rejects", [(*x, now) for r in cleaned for x in r.rejects], step)
    linking = set(settings.linking_types)
    new_nodes = sorted({(n, t, v) for _rid, n, t, v, new in plan.node_rows if new})
    _insert(
        engine,
        "identity_nodes",
        [(n, t, v, f"{t}:{v}", t in linking, False) for n, t, v in new_nodes],
        step,
    )
    _insert(engine, "record_nodes", sorted({(rid, n) for rid, n, *_ in plan.node_rows}), step)
    _insert(engine, "profile_keys", plan.keys, step)
    by_rid = {r.rid: r for r in cleaned}
    _insert(
        engine,
        "record_profiles",
        [
            (rid, by_rid[rid].row.source, by_rid[rid].row.record_key, pid)
            for rid, pid in plan.placed
        ],
        step,
    )
    if plan.merges:
        for a, s in plan.absorbed:
            for table in ("record_profiles", "profile_keys"):
                engine.execute(
                    f"UPDATE {table} SET profile_id = ? WHERE profile_id = ?", [s, a], step=step
                )
        engine.execute(
            "INSERT INTO profile_history (run_id, happened_at, profile_id, event, "
            "other_profile_id, members, evidence) SELECT ?, now(), unnest(?::VARCHAR[]), "
            "'merged', unnest(?::VARCHAR[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[])",
            [
                run_id,
                [a for m in plan.merges.values() for a in m.absorbed],
                [m.survivor for m in plan.merges.values() for _ in m.absorbed],
                [n for m in plan.merges.values() for n in m.members],
                [e for m in plan.merges.values() for e in m.evidence],
            ],
            step=step,
        )
    # the old rows go (a profile the records start has none), the new ones come in
    rewrite = set(w.rewrite_traits)
    for table, scope, rows in (
        ("profile_identifiers", w.existing, w.identifiers),
        ("profile_traits", w.trait_scope, [t for t in w.traits if t[0] in rewrite]),
        ("profile_consents", w.trait_scope, [c for c in w.consents if c[0] in rewrite]),
        ("profiles", w.existing, [[p[c] for c in _PROFILE_COLUMNS] for p in w.profiles]),
        ("profile_docs", w.existing, [_document(p, w) for p in w.profiles]),
    ):
        if scope:
            engine.execute(
                f"DELETE FROM {table} WHERE profile_id IN {literal_list(scope)}", step=step
            )
        _insert(engine, table, rows, step)
    if plan.created:
        engine.execute(
            "INSERT INTO profile_history (run_id, happened_at, profile_id, event) "
            "SELECT ?, now(), unnest(?::VARCHAR[]), 'created'",
            [run_id, plan.created],
            step=step,
        )


def _document(p: dict[str, Any], w: _ProfileWrites) -> tuple[Any, ...]:
    """`profiles.build.profile_docs_sql`'s row: lists ordered as it orders them, NULL when
    empty (its LEFT JOINs)."""
    pid = p["profile_id"]
    ids = sorted(
        (r for r in w.identifiers if r[0] == pid),
        key=lambda r: (r[1], *_newest_first(r[5]), r[2]),
    )
    identifiers = [
        dict(
            zip(
                ("id_type", "value", "records", "first_seen", "last_seen", "sources", "shared"),
                r[1:],
                strict=True,
            )
        )
        for r in ids
    ]
    traits = [
        dict(zip(("trait", "value", "source", "observed_at"), t[1:], strict=True))
        for t in w.traits
        if t[0] == pid
    ]
    consents = [
        dict(zip(("purpose", "status", "source", "observed_at"), c[1:], strict=True))
        for c in w.consents
        if c[0] == pid
    ]
    return (pid, p, identifiers or None, traits or None, consents or None)
