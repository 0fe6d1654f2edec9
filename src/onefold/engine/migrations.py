"""Versioned schema migrations: the workspace database is upgraded, never dropped and recreated.

Append new migrations to MIGRATIONS; never edit one that has shipped. Each runs in its own
transaction together with the row recording it, so a crash leaves the schema at a known version.
"""

from __future__ import annotations

from dataclasses import dataclass

from onefold.engine.base import Engine
from onefold.errors import WorkspaceError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "landing: loads and append-only landed records with lineage",
        (
            "CREATE SEQUENCE load_id_seq START 1",
            """CREATE TABLE loads (
                load_id BIGINT PRIMARY KEY,
                source VARCHAR NOT NULL,
                file VARCHAR NOT NULL,
                file_bytes BIGINT,
                started_at TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ,
                rows_read BIGINT,
                rows_new BIGINT,
                rows_unreadable BIGINT,
                status VARCHAR NOT NULL
            )""",
            """CREATE TABLE landed_records (
                source VARCHAR NOT NULL,
                record_key VARCHAR,
                row_hash UHUGEINT NOT NULL,
                load_id BIGINT NOT NULL,
                loaded_at TIMESTAMPTZ NOT NULL,
                file VARCHAR NOT NULL,
                row_number BIGINT NOT NULL,
                payload VARCHAR NOT NULL,
                parse_error VARCHAR
            )""",
        ),
    ),
    Migration(
        2,
        "cleaning: normalised value cache, rejects",
        (
            """CREATE TABLE normalised_values (
                normaliser VARCHAR NOT NULL,
                param VARCHAR NOT NULL,
                raw VARCHAR NOT NULL,
                value VARCHAR,
                status VARCHAR NOT NULL,
                reason VARCHAR,
                key VARCHAR,
                script VARCHAR
            )""",
            """CREATE TABLE rejects (
                stage VARCHAR NOT NULL,
                source VARCHAR NOT NULL,
                record_key VARCHAR,
                load_id BIGINT,
                file VARCHAR,
                row_number BIGINT,
                field VARCHAR NOT NULL,
                raw_value VARCHAR,
                status VARCHAR NOT NULL,
                reason VARCHAR NOT NULL,
                detected_at TIMESTAMPTZ NOT NULL
            )""",
        ),
    ),
    Migration(
        3,
        "identity and profiles: stable ids and their history",
        (
            """CREATE TABLE profile_keys (
                member_key VARCHAR NOT NULL,
                profile_id VARCHAR NOT NULL
            )""",
            """CREATE TABLE profile_history (
                run_id BIGINT NOT NULL,
                happened_at TIMESTAMPTZ NOT NULL,
                profile_id VARCHAR NOT NULL,
                event VARCHAR NOT NULL,
                other_profile_id VARCHAR,
                members BIGINT
            )""",
            """CREATE TABLE runs (
                run_id BIGINT PRIMARY KEY,
                kind VARCHAR NOT NULL,
                started_at TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ,
                stats JSON
            )""",
        ),
    ),
    Migration(
        4,
        "manual overrides; evidence of merges for unmerge",
        (
            "CREATE SEQUENCE override_id_seq START 1",
            """CREATE TABLE overrides (
                override_id BIGINT PRIMARY KEY,
                kind VARCHAR NOT NULL,
                a VARCHAR NOT NULL,
                b VARCHAR NOT NULL,
                note VARCHAR,
                created_at TIMESTAMPTZ NOT NULL
            )""",
            "ALTER TABLE profile_history ADD COLUMN evidence VARCHAR",
        ),
    ),
    Migration(
        5,
        "incremental resolution: what each run saw (landing watermark, config fingerprint)",
        (
            "ALTER TABLE runs ADD COLUMN max_load_id BIGINT",
            "ALTER TABLE runs ADD COLUMN fingerprint VARCHAR",
        ),
    ),
    Migration(
        6,
        "collection API: keys (hashed), the server's envelope beside each raw message",
        (
            """CREATE TABLE api_keys (
                key_id VARCHAR PRIMARY KEY,
                kind VARCHAR NOT NULL,
                source VARCHAR,
                key_hash VARCHAR NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                revoked_at TIMESTAMPTZ,
                note VARCHAR
            )""",
            "ALTER TABLE landed_records ADD COLUMN meta VARCHAR",
        ),
    ),
    Migration(
        7,
        "Profile API: profile history looked up by profile id",
        (
            "CREATE INDEX profile_history_by_profile ON profile_history (profile_id)",
            "CREATE INDEX profile_history_by_other ON profile_history (other_profile_id)",
        ),
    ),
    Migration(
        8,
        "collection API: message ids claimed through a primary key (index lookups, no scans)",
        (
            """CREATE TABLE collected_ids (
                source VARCHAR NOT NULL,
                message_id VARCHAR NOT NULL,
                PRIMARY KEY (source, message_id)
            )""",
            "INSERT INTO collected_ids SELECT DISTINCT source, record_key FROM landed_records "
            "WHERE meta IS NOT NULL AND record_key IS NOT NULL",
        ),
    ),
    Migration(
        9,
        "incremental cleaning: a few new values looked up in the normaliser cache by index",
        ("CREATE INDEX normalised_values_by_raw ON normalised_values (raw)",),
    ),
    Migration(
        10,
        "collection journal: how far the loader has landed it (moved with each load)",
        (
            "CREATE TABLE journal_position (segment BIGINT NOT NULL, byte_offset BIGINT NOT NULL)",
            "INSERT INTO journal_position VALUES (0, 0)",
        ),
    ),
    Migration(
        11,
        "probabilistic matching: the trained model kept, scored with until retrained",
        (
            """CREATE TABLE match_model (
                fingerprint VARCHAR NOT NULL,
                trained_run BIGINT NOT NULL,
                trained_at TIMESTAMPTZ NOT NULL,
                model JSON NOT NULL
            )""",
            "CREATE TABLE match_model_tf (field VARCHAR NOT NULL, key VARCHAR NOT NULL, "
            "tf DOUBLE NOT NULL)",
        ),
    ),
)


def current_version(engine: Engine) -> int:
    if not engine.table_exists("schema_migrations"):
        return 0
    return int(engine.fetchone("SELECT coalesce(max(version), 0) FROM schema_migrations"))


def migrate(engine: Engine) -> list[int]:
    """Apply every migration newer than the database; return the versions applied."""
    if not engine.table_exists("schema_migrations"):
        engine.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description VARCHAR, "
            "applied_at TIMESTAMPTZ DEFAULT now())"
        )
    have = current_version(engine)
    latest = MIGRATIONS[-1].version
    if have > latest:
        raise WorkspaceError(
            f"the workspace database is at schema version {have}, newer than this onefold "
            f"({latest}); upgrade onefold"
        )
    applied = []
    for m in MIGRATIONS:
        if m.version <= have:
            continue
        with engine.transaction():
            engine.run_script(m.statements, step=f"migration {m.version}")
            engine.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                [m.version, m.description],
            )
        applied.append(m.version)
    return applied
