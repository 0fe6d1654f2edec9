"""Quoting for the SQL text the stages build: one place, so every stage escapes alike."""

from __future__ import annotations

from collections.abc import Iterable


def literal(text: str) -> str:
    """A SQL string literal: `O'Brien` → `'O''Brien'`."""
    return "'" + text.replace("'", "''") + "'"


def literal_list(values: Iterable[str]) -> str:
    """`(v1, v2, …)` for `IN`; an empty list becomes `(NULL)`, which matches nothing."""
    items = [literal(v) for v in values]
    return "(" + ", ".join(items) + ")" if items else "(NULL)"


def identifier(name: str) -> str:
    """A quoted column or table name (CSV headers may hold spaces and quotes)."""
    return '"' + name.replace('"', '""') + '"'


def replace_changed_sql(target: str, rows: str, scope: str, columns: Iterable[str]) -> list[str]:
    """Statements that make `target`'s rows within `scope` equal to `rows`, touching only
    the rows that differ: delete those with no identical row in `rows`, insert the rows of
    `rows` that are not already there.

    An incremental run recomputes whole profiles, yet most of their rows come out as they
    were (a visitor's hundred page views keep their profile id). Deleting and re-inserting
    them all made every commit merge tens of thousands of rows into indexed tables, and
    the collector's commits waited behind it. `scope` is a condition on `target`'s columns
    (unqualified); the tables must not hold two identical rows.
    """
    same = " AND ".join(
        f"n.{identifier(c)} IS NOT DISTINCT FROM m.{identifier(c)}" for c in columns
    )
    return [
        f"""DELETE FROM {target} WHERE rowid IN (
                SELECT m.rowid FROM {target} m
                WHERE {scope} AND NOT EXISTS (SELECT 1 FROM {rows} n WHERE {same}))""",
        f"""INSERT INTO {target} BY NAME
            SELECT n.* FROM {rows} n
            WHERE NOT EXISTS (SELECT 1 FROM {target} m WHERE {scope} AND {same})""",
    ]


def replace_rows_sql(
    target: str, rows: str, scope: str, columns: Iterable[str] | None
) -> list[str]:
    """Make `target`'s rows within `scope` those of `rows`: with `columns`, by writing only
    the rows that differ (`replace_changed_sql`); without, by deleting the scope and
    inserting every row — two cheap statements where the rows are few, where the
    comparison's extra scan would cost more than the rewrite saves."""
    if columns is not None:
        return replace_changed_sql(target, rows, scope, columns)
    return [
        f"DELETE FROM {target} WHERE {scope}",
        f"INSERT INTO {target} BY NAME SELECT * FROM {rows}",
    ]
