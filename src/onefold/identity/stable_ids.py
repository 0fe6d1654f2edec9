"""Stable profile ids: a person keeps their id across runs, merges keep the older id.

`profile_keys` remembers which member keys (identifier node keys, or `record:…` for records
without identifiers) belonged to which profile after the last run. A new component inherits
the id of the previous profile it shares most keys with; each old id goes to exactly one
component; components with no past mint an id from their smallest member key, so a fresh
workspace loaded with the same data gets the same ids. Every create, merge and split is
written to `profile_history`. Nothing persistent changes until `commit_profile_ids`, which the
caller runs in the same short transaction that swaps in the new profile tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from onefold.engine.base import Engine


@dataclass(frozen=True)
class IdAssignment:
    profiles: int
    created: int
    merged: int
    split: int


#: Each merge this run, with one record from each side as it was before: a record of the
#: absorbed profile that held none of the survivor's values, and the other way round. They
#: are what `unmerge` separates.
MERGES = """
    CREATE OR REPLACE TEMP TABLE _merges AS
    WITH m AS (
        SELECT c.profile_id AS absorbed, cp.profile_id AS survivor, c.shared
        FROM _claims c JOIN _comp_profile cp USING (comp)
        WHERE c.profile_id <> cp.profile_id
          AND c.profile_id NOT IN (SELECT profile_id FROM _comp_profile)
    ), k AS (
        SELECT profile_id, member_key FROM profile_keys
        WHERE profile_id IN (SELECT absorbed FROM m UNION SELECT survivor FROM m)
    ), r AS (
        SELECT k.profile_id, r.source || '/' || r.record_key AS ref
        FROM k JOIN identity_nodes n ON n.node_key = k.member_key
        JOIN record_nodes rn USING (node_id) JOIN records r USING (rid)
        UNION
        SELECT profile_id, substr(member_key, 8) FROM k WHERE member_key LIKE 'record:%'
    )
    SELECT m.*,
           (SELECT min(ref) FROM r WHERE r.profile_id = m.absorbed
              AND ref NOT IN (SELECT ref FROM r x WHERE x.profile_id = m.survivor))
               AS absorbed_ref,
           (SELECT min(ref) FROM r WHERE r.profile_id = m.survivor
              AND ref NOT IN (SELECT ref FROM r x WHERE x.profile_id = m.absorbed))
               AS survivor_ref
    FROM m
"""


def assign_profile_ids(engine: Engine, run_id: int) -> IdAssignment:
    """Map every `_members.comp` to a profile id → `_comp_profile(comp, profile_id)`."""
    step = "identity: stable ids"
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _claims AS
        SELECT m.comp, p.profile_id, count(*) AS shared
        FROM _members m JOIN profile_keys p USING (member_key) GROUP BY ALL
    """,
        step=step,
    )
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _born AS
        SELECT profile_id, min(run_id) AS born FROM profile_history GROUP BY profile_id
    """,
        step=step,
    )
    # each old id goes to the component holding most of its keys; each component keeps the
    # oldest of the ids it was given
    engine.execute(
        """
        CREATE OR REPLACE TEMP TABLE _kept AS
        WITH awarded AS (
            -- on a tie, the shared value's own profile (`h<node>`) before the named
            -- callers split off it (`h<node>~<name>`), whose labels follow node ids
            SELECT comp, profile_id, shared FROM _claims
            QUALIFY row_number() OVER (PARTITION BY profile_id
                                       ORDER BY shared DESC, comp LIKE 'h%~%', comp) = 1
        )
        SELECT a.comp, a.profile_id FROM awarded a LEFT JOIN _born b USING (profile_id)
        QUALIFY row_number() OVER (PARTITION BY a.comp
                                   ORDER BY b.born NULLS LAST, a.shared DESC, a.profile_id) = 1
    """,
        step=step,
    )
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _comp_profile AS
        WITH comps AS (
            -- the named profiles split off one shared value (`h<node>~<name>`) all hold the
            -- value: each is named after its smallest record instead
            SELECT comp, min(member_key) FILTER (WHERE comp NOT LIKE 'h%~%'
                                                  OR member_key LIKE 'record:%') AS first_key
            FROM _members GROUP BY comp
        ),
        minted AS (
            SELECT c.comp, 'p_' || left(md5(c.first_key), 16) AS plain,
                   'p_' || left(md5(c.first_key || ':' || {int(run_id)}), 16) AS salted
            FROM comps c WHERE c.comp NOT IN (SELECT comp FROM _kept)
        )
        SELECT comp, profile_id, false AS minted FROM _kept
        UNION ALL
        SELECT m.comp, CASE WHEN b.profile_id IS NULL THEN m.plain ELSE m.salted END, true
        FROM minted m LEFT JOIN _born b ON b.profile_id = m.plain
    """,
        step=step,
    )
    engine.execute(MERGES, step=step)
    engine.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _history AS
        SELECT {int(run_id)} AS run_id, now() AS happened_at, cp.profile_id,
               CASE WHEN src.profile_id IS NULL THEN 'created' ELSE 'split' END AS event,
               src.profile_id AS other_profile_id, NULL::BIGINT AS members,
               NULL::VARCHAR AS evidence
        FROM _comp_profile cp
        LEFT JOIN (SELECT comp, profile_id FROM _claims
                   QUALIFY row_number() OVER (PARTITION BY comp
                                              ORDER BY shared DESC, profile_id) = 1) src
          USING (comp)
        WHERE cp.minted
        UNION ALL
        SELECT {int(run_id)}, now(), m.absorbed, 'merged', m.survivor, m.shared,
               m.absorbed_ref || chr(10) || m.survivor_ref
        FROM _merges m
    """,
        step=step,
    )
    engine.execute(
        """
        CREATE OR REPLACE TABLE next_profile_keys AS
        SELECT m.member_key, cp.profile_id FROM _members m JOIN _comp_profile cp USING (comp)
    """,
        step=step,
    )
    counts = engine.fetchall(
        """
        SELECT (SELECT count(*) FROM _comp_profile),
               count(*) FILTER (WHERE event = 'created'),
               count(*) FILTER (WHERE event = 'merged'),
               count(*) FILTER (WHERE event = 'split')
        FROM _history
    """
    )[0]
    for t in ("_claims", "_born", "_kept"):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    return IdAssignment(*(int(c) for c in counts))


def commit_profile_ids(engine: Engine) -> None:
    """Inside the caller's transaction: record history and make the new keys current."""
    engine.execute("INSERT INTO profile_history SELECT * FROM _history", step="commit ids")
    engine.execute("DROP TABLE IF EXISTS profile_keys")
    engine.execute("ALTER TABLE next_profile_keys RENAME TO profile_keys")
    # the incremental fast path moves a merged profile's keys to its survivor by this
    engine.execute(
        "CREATE INDEX profile_keys_by_profile_id ON profile_keys (profile_id)", step="commit ids"
    )
    engine.execute("DROP TABLE _history")
    engine.execute("DROP TABLE IF EXISTS _merges")
