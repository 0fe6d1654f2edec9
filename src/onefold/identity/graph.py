"""Deterministic identity graph: identifiers are nodes, records tie them, components are people.

Guards against over-merging, all in SQL:
- junk values never get here (the cleaning stage rejects them);
- a *hub* — a value whose records carry more distinct values of a limited type than one person
  plausibly has (a family email seen with two user ids, a store tablet seen with forty, a
  recycled phone seen with two loyalty cards) — stays attached to its records but joins
  nothing;
- a unique type (user_id, loyalty_card, …) is only judged by types at least as strong, so a
  customer with several emails does not lose their account id;
- a chain that would still give one profile more values of a type than `profile_limits`
  allows is replayed record by record, dropping the weakest link (see `limits`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from onefold.config.settings import IdentitySettings
from onefold.engine.base import Engine
from onefold.engine.sql import literal, literal_list
from onefold.identity.limits import enforce_profile_limits
from onefold.identity.nicknames import extensions_sql, person_name_sql, register_aliases
from onefold.identity.overrides import cut_cannot_links

MAX_ITERATIONS = 64


def hub_exempt(settings: IdentitySettings, b_type: str) -> tuple[str, ...]:
    """Types whose values the count of `b_type` values never makes hubs: a unique type may
    only make weaker (or same-type) values hubs, another type no unique one."""
    unique = [t for t, lim in settings.hub_limits.items() if lim <= 1]
    if b_type in unique:
        return tuple(u for u in unique if settings.rank(u) > settings.rank(b_type))
    return tuple(unique)


def hub_rule_sql(settings: IdentitySettings) -> str:
    """CASE expression: the limit that applies to neighbour type `b_type` of a node `a_type`.

    NULL means that neighbour type does not count against that node.
    """
    whens = []
    for t, limit in sorted(settings.hub_limits.items()):
        exempt = hub_exempt(settings, t)
        guard = f"AND a_type NOT IN {literal_list(exempt)}" if exempt else ""
        whens.append(f"WHEN b_type = {literal(t)} {guard} THEN {int(limit)}")
    return "CASE " + " ".join(whens) + " END" if whens else "NULL"


#: Each named record's name (full name, else first + last: see `person_name_sql`) as its
#: matching key, tokens sorted so that `Wei Zhang` is `Zhang Wei`.
RECORD_NAMES = f"""
    CREATE OR REPLACE TEMP TABLE _rec_name AS
    SELECT rid, array_to_string(list_sort(string_split(nm, ' ')), ' ') AS nk FROM (
        SELECT rid, {
    person_name_sql(
        *(
            f"any_value(key) FILTER (WHERE name = '{n}')"
            for n in ("full_name", "first_name", "last_name")
        )
    )
} AS nm
        FROM record_values
        WHERE role = 'trait' AND name IN ('full_name', 'first_name', 'last_name')
          AND status IN ('valid', 'suspicious') AND key IS NOT NULL
          AND rid IN (SELECT rid FROM _rn)
        GROUP BY rid)
    WHERE nm IS NOT NULL AND nm <> ''
"""


def name_conflict_sql(unique_types: tuple[str, ...], similarity: float) -> str:
    """Hubs by name evidence: a value whose records name two different people.

    Tokens both names share are set aside first (a family shares its surname; a reordered
    `Wei Zhang` shares all of `Zhang Wei`), and so are nicknames of each other (Bill and
    William); what remains must still look alike. Only full names (two tokens or more) are
    judged, and the same letters rearranged count as a typo. Unique types are not judged this
    way: an account id outranks a name typed by an agent.
    """
    return f"""
        INSERT INTO hub_values
        WITH rec_name AS (
            SELECT rid, {
        person_name_sql(
            *(
                f"any_value(key) FILTER (WHERE name = '{n}')"
                for n in ("full_name", "first_name", "last_name")
            )
        )
    }
                   AS nm
            FROM record_values
            WHERE role = 'trait' AND name IN ('full_name', 'first_name', 'last_name')
              AND status IN ('valid', 'suspicious') AND key IS NOT NULL
            GROUP BY rid
        ), node_names AS (
            SELECT DISTINCT r.node_id, string_split(n.nm, ' ') AS tokens, n.nm
            FROM _rn r JOIN rec_name n USING (rid)
            WHERE r.id_type NOT IN {literal_list(unique_types)} AND n.nm IS NOT NULL
        ), multi AS (
            SELECT node_id FROM node_names GROUP BY node_id HAVING count(*) > 1
        ), judged AS (
            SELECT * FROM node_names
            WHERE node_id IN (SELECT node_id FROM multi) AND len(tokens) >= 2
        ), extended AS ({extensions_sql("SELECT nm FROM judged")}
        ), rest AS (
            SELECT a.node_id, a.nm AS na, b.nm AS nb,
                   array_to_string(list_filter(a.tokens, lambda x: NOT list_contains(eb.ext, x)),
                                   ' ') AS ra,
                   array_to_string(list_filter(b.tokens, lambda x: NOT list_contains(ea.ext, x)),
                                   ' ') AS rb
            FROM judged a JOIN judged b ON a.node_id = b.node_id AND a.nm < b.nm
            JOIN extended ea ON ea.nm = a.nm JOIN extended eb ON eb.nm = b.nm
        ), conflicts AS (
            SELECT node_id, count(*) AS n FROM rest
            WHERE ra <> '' AND rb <> '' AND jaro_winkler_similarity(ra, rb) < {similarity!r}
              -- the same letters rearranged (a typo across the space) is one person
              AND levenshtein(array_to_string(list_sort(string_split(replace(na, ' ', ''), '')),
                                              ''),
                              array_to_string(list_sort(string_split(replace(nb, ' ', ''), '')),
                                              '')) > 2
            GROUP BY node_id
        )
        SELECT n.node_id, n.id_type, n.value, 'name', c.n + 1, 1
        FROM conflicts c JOIN identity_nodes n USING (node_id)
        WHERE n.node_id NOT IN (SELECT node_id FROM hub_values)
    """


@dataclass(frozen=True)
class GraphResult:
    nodes: int
    hubs: int
    edges: int
    iterations: int
    components: int
    #: components that broke a profile limit, and the links dropped to respect it
    limited: int = 0
    conflicts: int = 0


def build_graph(
    engine: Engine,
    settings: IdentitySettings,
    progress: Callable[[str, int, int], None] | None = None,
    cannot_links: Sequence[tuple[str, str]] = (),
    preset_hubs: str | None = None,
) -> GraphResult:
    """Write identity_nodes, record_nodes, hub_values, and the temp tables
    `_record_comp(rid, comp)` and `_members(comp, member_key)` that stable ids start from.

    `preset_hubs` names a table of hub values (hub_values' columns but node_id) known from
    records outside this graph: incremental resolution works on a region of the workspace,
    and a value shared beyond the region is a hub whatever the region alone shows.
    """
    report = progress or (lambda _s, _d, _t: None)
    step = "identity"
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _ids AS
        SELECT DISTINCT rid, name AS id_type, value FROM record_values
        WHERE role = 'identifier' AND status IN ('valid', 'suspicious')
    """,
        step=step,
    )
    engine.execute(
        f"""
        CREATE OR REPLACE TABLE identity_nodes AS
        SELECT row_number() OVER (ORDER BY id_type, value) AS node_id, id_type, value,
               id_type || ':' || value AS node_key,
               id_type IN {literal_list(settings.linking_types)} AS links, false AS is_hub
        FROM (SELECT DISTINCT id_type, value FROM _ids)
    """,
        step=step,
    )
    engine.execute(
        """
        CREATE OR REPLACE TABLE record_nodes AS
        SELECT i.rid, n.node_id FROM _ids i JOIN identity_nodes n USING (id_type, value)
    """,
        step=step,
    )
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _rn AS
        SELECT r.rid, r.node_id, n.id_type
        FROM record_nodes r JOIN identity_nodes n USING (node_id) WHERE n.links
    """,
        step=step,
    )
    engine.execute("DROP TABLE _ids")
    report("hubs", 0, 1)
    limited = tuple(settings.hub_limits)
    engine.execute(
        f"""
        CREATE OR REPLACE TABLE hub_values AS
        WITH pairs AS (
            SELECT DISTINCT a.node_id, a.id_type AS a_type, b.node_id AS other,
                   b.id_type AS b_type
            FROM _rn a JOIN _rn b ON a.rid = b.rid AND a.node_id <> b.node_id
            WHERE b.id_type IN {literal_list(limited)}
        ), counted AS (
            SELECT node_id, a_type, b_type, count(*) AS distinct_values,
                   {hub_rule_sql(settings)} AS max_allowed
            FROM pairs GROUP BY ALL
        )
        SELECT n.node_id, n.id_type, n.value, c.b_type AS shared_with_type,
               c.distinct_values, c.max_allowed
        FROM counted c JOIN identity_nodes n USING (node_id)
        WHERE c.max_allowed IS NOT NULL AND c.distinct_values > c.max_allowed
    """,
        step="identity: hubs",
    )
    named = settings.name_conflict_similarity is not None
    if settings.name_conflict_similarity is not None:
        register_aliases(engine)
        engine.execute(
            name_conflict_sql(settings.unique_types, settings.name_conflict_similarity),
            step="identity: name conflicts",
        )
        engine.execute(RECORD_NAMES, step="identity: record names")
    if preset_hubs:
        engine.execute(
            f"""
            INSERT INTO hub_values
            SELECT n.node_id, h.id_type, h.value, h.shared_with_type, h.distinct_values,
                   h.max_allowed
            FROM {preset_hubs} h JOIN identity_nodes n USING (id_type, value)
            WHERE n.node_id NOT IN (SELECT node_id FROM hub_values)
        """,
            step="identity: known hubs",
        )
    report("hubs", 1, 1)
    iterations = components(engine, report, named)
    if cannot_links:
        cut = cut_cannot_links(engine, cannot_links, settings.rank)
        if cut:
            iterations += components(engine, report, named)
    capped = enforce_profile_limits(engine, settings)
    stats = engine.fetchall("""
        SELECT (SELECT count(*) FROM identity_nodes WHERE links), (SELECT count(*) FROM hub_values),
               (SELECT count(*) FROM _edges), (SELECT count(DISTINCT comp) FROM _record_comp)
    """)[0]
    for t in ("_rn", "_rn_link", "_edges", "_labels", "_rec_name"):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    return GraphResult(
        int(stats[0]),
        int(stats[1]),
        int(stats[2]),
        iterations,
        int(stats[3]),
        capped.components,
        capped.conflicts,
    )


def components(engine: Engine, report: Callable[[str, int, int], None], named: bool = False) -> int:
    """Hubs out, then connected components → `_record_comp` and `_members`.

    A record whose only identifiers are hubs joins no person through them; it forms a
    profile of the shared value with the other such records (`h<node>`), except that with
    `named` (the table `_rec_name`) a record that carries a name joins only those of the
    same name (`h<node>~<name>`): the landline whose callers Li Jia and Li Ming made it a hub
    by name evidence must not then hold both callers in one profile. Such a profile's members
    are the shared value (so an incremental run that meets the value finds every profile
    holding it) and its records (so each keeps its id from run to run).
    """
    step = "identity"
    engine.execute(
        """
        UPDATE identity_nodes SET is_hub = true
        WHERE node_id IN (SELECT node_id FROM hub_values)
    """,
        step="identity: hubs",
    )
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _rn_link AS
        SELECT rid, node_id FROM _rn
        WHERE node_id NOT IN (SELECT node_id FROM hub_values)
    """,
        step=step,
    )
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _edges AS
        SELECT DISTINCT node_id AS a, anchor AS b FROM (
            SELECT node_id, min(node_id) OVER (PARTITION BY rid) AS anchor FROM _rn_link)
        WHERE node_id <> anchor
    """,
        step=step,
    )
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _labels AS
        SELECT node_id, node_id AS label FROM identity_nodes WHERE links AND NOT is_hub
    """,
        step=step,
    )
    iterations = _propagate(engine, report)
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _record_comp AS
        WITH linked AS (
            SELECT k.rid, min(l.label) AS label
            FROM _rn_link k JOIN _labels l USING (node_id) GROUP BY k.rid
        ), hubs_only AS (
            SELECT rid, min(node_id) AS hub FROM _rn GROUP BY rid
        )
        SELECT r.rid,
               coalesce('n' || linked.label, 'h' || hubs_only.hub || coalesce('~' || nm.nk, ''),
                        'r' || r.rid) AS comp,
               r.source, r.record_key
        FROM records r LEFT JOIN linked USING (rid) LEFT JOIN hubs_only USING (rid)
        LEFT JOIN {names} nm USING (rid)
    """.format(names="_rec_name" if named else "(SELECT NULL::BIGINT AS rid, NULL AS nk)"),
        step="identity: assign records",
    )
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _members AS
        SELECT 'n' || l.label AS comp, n.node_key AS member_key
        FROM _labels l JOIN identity_nodes n USING (node_id)
        UNION ALL
        SELECT DISTINCT c.comp, n.node_key FROM _record_comp c
        JOIN identity_nodes n ON split_part(c.comp, '~', 1) = 'h' || n.node_id
        WHERE c.comp LIKE 'h%'
        UNION ALL
        SELECT comp, 'record:' || source || '/' || record_key FROM _record_comp
        WHERE comp LIKE 'r%' OR comp LIKE 'h%~%'
    """,
        step="identity: members",
    )
    return iterations


def _propagate(engine: Engine, report: Callable[[str, int, int], None]) -> int:
    """Min-label propagation with pointer jumping until no label changes (logged per round)."""
    for i in range(1, MAX_ITERATIONS + 1):
        engine.execute(
            """
            CREATE OR REPLACE TEMP TABLE _next AS
            SELECT node_id, min(label) AS label FROM (
                SELECT node_id, label FROM _labels
                UNION ALL SELECT e.a, l.label FROM _edges e JOIN _labels l ON l.node_id = e.b
                UNION ALL SELECT e.b, l.label FROM _edges e JOIN _labels l ON l.node_id = e.a
            ) GROUP BY node_id
        """,
            step=f"identity: components round {i}",
        )
        engine.execute(
            """
            CREATE OR REPLACE TEMP TABLE _next AS
            SELECT n.node_id, least(n.label, p.label) AS label
            FROM _next n JOIN _next p ON p.node_id = n.label
        """,
            step=f"identity: pointer jump {i}",
        )
        changed = int(
            engine.fetchone("""
            SELECT count(*) FROM _next n JOIN _labels l USING (node_id)
            WHERE n.label <> l.label
        """)
        )
        engine.execute("DROP TABLE _labels")
        engine.execute("ALTER TABLE _next RENAME TO _labels")
        report("components", i, i + (1 if changed else 0))
        if changed == 0:
            return i
    raise RuntimeError(f"identity graph did not converge in {MAX_ITERATIONS} rounds")
