"""Identifier values a workspace refuses to link on, declared in `identity.blocked_*`.

The built-in junk list catches placeholders every system has (`null`, `test@test.com`,
`13800000000`); a business has its own: the store's own phone number typed for walk-in
customers, a `guest@ourshop.com` address on every anonymous POS sale, a staff email domain.
They are matched against the *normalised* value, so `+1 (415) 555-0000` and `4155550000` are
one rule, and handled like junk: the value stays on its record with status `junk` and the
reason, lands in the rejects, and never joins records.
"""

from __future__ import annotations

from onefold.config.settings import ANY_TYPE, IdentitySettings
from onefold.engine.sql import literal, literal_list


def blocked_reason_sql(settings: IdentitySettings, name: str, value: str) -> str | None:
    """CASE expression: why identifier `name` = `value` is blocked, NULL when it is not.

    None when the workspace declares no rules (the common case pays nothing).
    """
    whens: list[str] = []
    for id_type, values in sorted(settings.blocked_values.items()):
        if values:
            scope = "" if id_type == ANY_TYPE else f"{name} = {literal(id_type)} AND "
            whens.append(
                f"WHEN {scope}{value} IN {literal_list(values)} "
                f"THEN {literal(f'blocked value (identity.blocked_values.{id_type})')}"
            )
    for id_type, patterns in sorted(settings.blocked_patterns.items()):
        scope = "" if id_type == ANY_TYPE else f"{name} = {literal(id_type)} AND "
        for pattern in patterns:
            why = f"matches blocked pattern {pattern} (identity.blocked_patterns.{id_type})"
            whens.append(
                f"WHEN {scope}regexp_full_match({value}, {literal(pattern)}) THEN {literal(why)}"
            )
    return "CASE " + " ".join(whens) + " END" if whens else None
