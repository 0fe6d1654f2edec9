"""Finding people: search by any identifier or name, and the full view of one profile."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onefold.clean.emails import normalise_email
from onefold.clean.identifiers import normalise_identifier
from onefold.clean.names import normalise_name
from onefold.clean.phones import normalise_phone
from onefold.engine.base import Engine
from onefold.errors import NotFoundError

_TYPED = re.compile(r"^([a-z_]+):(.+)$")


@dataclass(frozen=True)
class ProfileView:
    profile: dict[str, Any]
    identifiers: list[dict[str, Any]]
    traits: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    history: list[dict[str, Any]]


def identifier_candidates(
    query: str, id_types: dict[str, str], regions: tuple[str, ...] = ("US", "CN")
) -> list[tuple[str, str]]:
    """(type, value) pairs the query could be, normalised the way the pipeline stores them."""
    m = _TYPED.match(query.strip())
    if m and m.group(1) in id_types:
        id_type, raw = m.group(1), m.group(2)
        if id_types[id_type] == "phone":
            return [(id_type, v) for v in _phones(raw, regions)]
        res = normalise_identifier(raw, id_types[id_type])
        return [(id_type, res.value)] if res.value else []
    out: list[tuple[str, str]] = []
    if "@" in query:
        res = normalise_email(query)
        if res.value:
            out.append(("email", res.value))
    if sum(c.isdigit() for c in query) >= 7:
        out += [("phone", v) for v in _phones(query, regions)]
    for id_type, normaliser in id_types.items():
        if normaliser in ("exact", "lower", "compact_upper"):
            res = normalise_identifier(query, normaliser)
            if res.value:
                out.append((id_type, res.value))
    return out


def _phones(raw: str, regions: tuple[str, ...]) -> list[str]:
    values = []
    for region in regions:
        res = normalise_phone(raw, region)
        if res.value and res.value not in values:
            values.append(res.value)
    return values


def search_profiles(
    engine: Engine, query: str, id_types: dict[str, str], limit: int = 20
) -> list[dict[str, Any]]:
    """Profiles holding an identifier the query normalises to, else whose name matches."""
    cands = identifier_candidates(query, id_types)
    if cands:
        values = ", ".join("(?, ?)" for _ in cands)
        params: list[Any] = [x for pair in cands for x in pair]
        hits = engine.fetch_dicts(
            f"""
            SELECT p.*, i.id_type AS matched_on FROM profiles p
            JOIN profile_identifiers i USING (profile_id)
            WHERE (i.id_type, i.value) IN (VALUES {values})
            ORDER BY p.records DESC LIMIT {int(limit)}
        """,
            params,
        )
        if hits:
            return hits
    name = normalise_name(query)
    key = name.key or query.strip().casefold()
    return engine.fetch_dicts(
        f"""
        SELECT p.*, 'name' AS matched_on FROM profiles p
        WHERE p.profile_id IN (
            SELECT rp.profile_id FROM record_values v JOIN record_profiles rp USING (rid)
            WHERE v.role = 'trait' AND v.name = 'full_name' AND v.key = ?)
           OR p.name ILIKE ? OR p.profile_id = ?
        ORDER BY p.records DESC LIMIT {int(limit)}
    """,
        [key, f"%{query.strip()}%", query.strip()],
    )


def follow_merges(engine: Engine, profile_id: str) -> str | None:
    """The profile that `profile_id` is now part of: itself, the profile it was merged into
    (over a chain of runs), or None if there is no such profile."""
    current, seen = profile_id, {profile_id}
    while not engine.fetchone(
        "SELECT count(*) FROM profiles WHERE profile_id = ?", [current], step="lookup"
    ):
        nxt = engine.fetchone(
            "SELECT other_profile_id FROM profile_history WHERE profile_id = ? "
            "AND event = 'merged' ORDER BY run_id DESC LIMIT 1",
            [current],
        )
        if nxt is None or nxt in seen:
            return None
        current = str(nxt)
        seen.add(current)
    return current


def profiles_with(engine: Engine, id_type: str, values: list[str]) -> list[str]:
    """Profiles holding any of `values` of `id_type`, most records first."""
    if not values:
        return []
    marks = ", ".join("?" for _ in values)
    # by value alone, the type checked here: with `id_type = ?` beside it DuckDB scanned the
    # table (100 ms at 1M profiles) instead of probing the index on value (1 ms)
    rows = engine.fetchall(
        f"SELECT profile_id, id_type, records FROM profile_identifiers WHERE value IN ({marks})",
        values,
        step="lookup",
    )
    records: dict[str, int] = {}
    for profile_id, found_type, n in rows:
        if found_type == id_type:
            records[str(profile_id)] = records.get(str(profile_id), 0) + int(n)
    return sorted(records, key=lambda pid: (-records[pid], pid))


@dataclass(frozen=True)
class TimelineFilter:
    """Which of a profile's records a timeline shows: channel, event types, time range."""

    channel: str | None = None
    types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


def timeline(
    engine: Engine,
    profile_id: str,
    limit: int = 200,
    offset: int = 0,
    only: TimelineFilter = TimelineFilter(),
) -> list[dict[str, Any]]:
    """The profile's records in time order (undated ones last), one page of them."""
    where, params = ["p.profile_id = ?"], list[Any]([profile_id])
    if only.channel:
        where.append("r.channel = ?")
        params.append(only.channel)
    if only.types:
        where.append(f"r.event_type IN ({', '.join('?' for _ in only.types)})")
        params += list(only.types)
    if only.since:
        where.append("r.event_time >= ?")
        params.append(only.since)
    if only.until:
        where.append("r.event_time < ?")
        params.append(only.until)
    return engine.fetch_dicts(
        f"""
        SELECT r.event_time, r.channel, r.source, r.event_type, r.amount, r.currency,
               r.record_key
        FROM records r JOIN record_profiles p USING (rid) WHERE {" AND ".join(where)}
        ORDER BY r.event_time NULLS LAST, r.source, r.record_key
        LIMIT {int(limit)} OFFSET {int(offset)}
    """,
        params,
    )


_HISTORY = """
  (SELECT list(struct_pack(run_id, happened_at, event, other_profile_id) ORDER BY run_id)
   FROM (SELECT * FROM profile_history WHERE profile_id = $1 UNION  -- a union, not OR: each
         SELECT * FROM profile_history WHERE other_profile_id = $1))  -- is a probe
"""
#: The whole profile in one statement (one snapshot while the resolver swaps tables): its
#: document (`profiles.build.profile_docs_sql`, one index probe instead of four) and the
#: history's two probes beside it.
_DOC_SQL = f"""
SELECT profile, identifiers, traits, consents, {_HISTORY} AS history
FROM profile_docs WHERE profile_id = $1
"""


def profile_document(engine: Engine, profile_id: str) -> dict[str, Any] | None:
    """Golden record, identifiers, traits and consents — one index probe (what the Profile
    API answers per lookup); None if no current profile has that id."""
    rows = engine.fetchall(
        "SELECT profile, identifiers, traits, consents FROM profile_docs WHERE profile_id = ?",
        [profile_id],
        step="lookup",
    )
    if not rows:
        return None
    profile, identifiers, traits, consents = rows[0]
    return {
        "profile": profile,
        "identifiers": identifiers or [],
        "traits": traits or [],
        "consents": consents or [],
    }


def profile_history(engine: Engine, profile_id: str) -> list[dict[str, Any]]:
    """The merges, splits and creations the profile took part in, oldest first."""
    history = engine.fetchone(f"SELECT {_HISTORY}", [profile_id])
    return list(history or [])


def show_profile(engine: Engine, profile_id: str, timeline_limit: int = 200) -> ProfileView:
    rows = engine.fetchall(_DOC_SQL, [profile_id], step="lookup")
    if not rows:
        merged = follow_merges(engine, profile_id)
        hint = f" (it was merged into {merged})" if merged else ""
        raise NotFoundError(f"no profile {profile_id!r}{hint}")
    profile, identifiers, traits, consents, history = rows[0]
    return ProfileView(
        profile=profile,
        identifiers=identifiers or [],
        traits=traits or [],
        consents=consents or [],
        timeline=timeline(engine, profile_id, timeline_limit) if timeline_limit else [],
        history=history or [],
    )
