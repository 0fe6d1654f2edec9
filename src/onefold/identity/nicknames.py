"""Given-name aliases (Bill ~ William, Liz ~ Elizabeth) from the `nicknames` package.

The package ships a hand-curated list of English names and their nicknames; onefold turns it
into a map name → every related name, both directions, so a comparison can ask whether two
tokens are the same name however the customer gave it.
"""

from __future__ import annotations

from functools import lru_cache

import pyarrow as pa
from nicknames import name_triplets

from onefold.engine.base import Engine

TABLE = "name_aliases"


@lru_cache(maxsize=1)
def alias_pairs() -> tuple[tuple[str, str], ...]:
    pairs: set[tuple[str, str]] = set()
    for t in name_triplets():
        a, b = t.name1.casefold(), t.name2.casefold()
        if a != b:
            pairs.add((a, b))
            pairs.add((b, a))
    return tuple(sorted(pairs))


def register_aliases(engine: Engine) -> None:
    """Create the temp table `name_aliases(name, alias)`, both directions, casefolded."""
    pairs = alias_pairs()
    engine.register(
        "_alias_pairs",
        pa.table({"name": [a for a, _ in pairs], "alias": [b for _, b in pairs]}),
    )
    try:
        engine.execute(
            f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT * FROM _alias_pairs",
            step="nickname aliases",
        )
    finally:
        engine.unregister("_alias_pairs")


def person_name_sql(full: str, first: str, last: str) -> str:
    """A person's name as one string: the full name where a source has one, else first and
    last joined (their order differs by script; name comparisons allow for that)."""
    return f"coalesce({full}, nullif(concat_ws(' ', {first}, {last}), ''))"


def extensions_sql(names: str) -> str:
    """`SELECT nm, ext` for the distinct names `nm` of the query `names`: each name's tokens
    plus every nickname of them. Aliases are stored both ways, so "x is a nickname of a token
    of b" reads as "x is in b's extension"."""
    return f"""
        SELECT nm, list_distinct(flatten(list(list_value(t.token, a.alias)))) AS ext
        FROM (SELECT DISTINCT nm, unnest(string_split(nm, ' ')) AS token
              FROM ({names}) WHERE nm IS NOT NULL) t
        LEFT JOIN {TABLE} a ON a.name = t.token
        GROUP BY nm
    """
