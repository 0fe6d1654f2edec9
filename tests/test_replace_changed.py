"""`replace_changed_sql`: an incremental run's write-back touches only the rows that differ."""

from __future__ import annotations

from onefold import Workspace
from onefold.engine.sql import replace_changed_sql

ROWS = [
    ("p1", "email", "a@mail.com", ["crm"]),  # unchanged
    ("p1", "phone", "+14155550100", ["pos"]),  # its sources change
    ("p1", "user_id", "u-1", None),  # gone from the new result
    ("p2", "email", "b@mail.com", ["web"]),  # out of scope: must stay as it is
]
NEXT = [
    ("p1", "email", "a@mail.com", ["crm"]),
    ("p1", "phone", "+14155550100", ["pos", "web"]),
    ("p1", "device_id", "d-7", None),  # new, with a NULL that must compare equal next time
]


def _setup(ws: Workspace) -> None:
    e = ws.engine
    for name in ("t", "next_t"):
        e.execute(
            f"CREATE TABLE {name} (profile_id VARCHAR, id_type VARCHAR, value VARCHAR, "
            "sources VARCHAR[])"
        )
    e.execute(
        "INSERT INTO t VALUES " + ", ".join(["(?, ?, ?, ?)"] * len(ROWS)),
        [x for r in ROWS for x in r],
    )
    e.execute(
        "INSERT INTO next_t VALUES " + ", ".join(["(?, ?, ?, ?)"] * len(NEXT)),
        [x for r in NEXT for x in r],
    )


def _apply(ws: Workspace) -> None:
    for sql in replace_changed_sql(
        "t", "next_t", "profile_id = 'p1'", ("profile_id", "id_type", "value", "sources")
    ):
        ws.engine.execute(sql)


def test_scope_becomes_the_new_rows_and_the_rest_stays(workspace: Workspace) -> None:
    _setup(workspace)
    kept = workspace.engine.fetchone(
        "SELECT rowid FROM t WHERE id_type = 'email' AND profile_id = 'p1'"
    )
    _apply(workspace)
    rows = workspace.engine.fetchall("SELECT * FROM t ORDER BY profile_id, id_type")
    assert rows == sorted([*NEXT, ROWS[3]], key=lambda r: (r[0], r[1])), (
        "scope p1 holds exactly the new rows, p2 is untouched"
    )
    # the unchanged row was not deleted and inserted again: it is the same physical row
    assert (
        workspace.engine.fetchone(
            "SELECT rowid FROM t WHERE id_type = 'email' AND profile_id = 'p1'"
        )
        == kept
    )


def test_a_second_pass_with_the_same_rows_writes_nothing(workspace: Workspace) -> None:
    _setup(workspace)
    _apply(workspace)
    before = workspace.engine.fetchall("SELECT rowid, * FROM t ORDER BY rowid")
    _apply(workspace)  # NULLs compare equal, so the NULL-sources row is not rewritten
    assert workspace.engine.fetchall("SELECT rowid, * FROM t ORDER BY rowid") == before
