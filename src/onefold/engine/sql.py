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
