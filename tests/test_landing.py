"""Landing: idempotent, versioned, lineage kept, unreadable rows kept with their reason."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook

from onefold import Workspace

CRM = """\
name: crm
path: data/crm*.csv
format: csv
channel: offline
record_key: id
event_time: modified
identifiers: {email: email, phone: mobile}
traits: {full_name: name}
"""

ROWS = (
    "id,name,email,mobile,modified\n"
    "1,Ann Lee,ann@lee.net,(415) 555-2671,2024-01-01T00:00:00Z\n"
    "2,Bo Chen,bo@chen.net,,2024-01-02T00:00:00Z\n"
)


def landed(ws: Workspace) -> list[dict[str, object]]:
    return ws.query("SELECT * FROM landed_records ORDER BY load_id, row_number")


def test_reloading_the_same_file_adds_nothing(workspace: Workspace, add_source) -> None:
    add_source("crm", CRM, "crm.csv", ROWS)
    first = workspace.load()
    second = workspace.load()
    assert [r.rows_new for r in first] == [2]
    assert [(r.rows_read, r.rows_new, r.rows_unchanged) for r in second] == [(2, 0, 2)]
    assert len(landed(workspace)) == 2


def test_changed_row_becomes_a_new_version(workspace: Workspace, add_source) -> None:
    path = add_source("crm", CRM, "crm.csv", ROWS)
    workspace.load()
    path.write_text(ROWS.replace("bo@chen.net", "bo.chen@work.net"), encoding="utf-8")
    assert [r.rows_new for r in workspace.load()] == [1]
    rows = landed(workspace)
    assert [r["record_key"] for r in rows] == ["1", "2", "2"]
    workspace.resolve()
    emails = workspace.query("""
        SELECT v.value FROM record_values v JOIN records r USING (rid)
        WHERE r.record_key = '2' AND v.name = 'email'""")
    assert emails == [{"value": "bo.chen@work.net"}]  # the current version wins
    assert workspace.query("SELECT count(*) AS n FROM records")[0]["n"] == 2


def test_lineage_names_file_row_and_load(workspace: Workspace, add_source) -> None:
    add_source("crm", CRM, "crm.csv", ROWS)
    [result] = workspace.load()
    row = landed(workspace)[1]
    assert row["file"] == "data/crm.csv"
    assert row["row_number"] == 2
    assert row["load_id"] == result.load_id
    assert json.loads(str(row["payload"]))["email"] == "bo@chen.net"


def test_glob_loads_every_matching_file(workspace: Workspace, add_source) -> None:
    add_source("crm", CRM, "crm_1.csv", ROWS)
    (workspace.root / "data" / "crm_2.csv").write_text(
        "id,name,email,mobile,modified\n3,Cy Wu,cy@wu.net,,2024-02-01T00:00:00Z\n"
    )
    results = workspace.load()
    assert [r.file for r in results] == ["data/crm_1.csv", "data/crm_2.csv"]
    assert sum(r.rows_new for r in results) == 3


def test_unreadable_rows_are_kept_with_their_reason(workspace: Workspace, add_source) -> None:
    mapping = CRM.replace("format: csv", "format: jsonl").replace("crm*.csv", "ev.jsonl")
    path = add_source("ev", mapping.replace("name: crm", "name: ev"), "ev.jsonl", "")
    path.write_bytes(
        b'{"id": "a", "email": "a@b.io"}\n'
        b"{not json\n"
        b'["an", "array"]\n'
        b'{"id": "b", "email": "caf\xe9@b.io"}\n'
        b'{"email": "nokey@b.io"}\n'
    )
    [result] = workspace.load()
    assert result.rows_read == 5
    assert result.rows_unreadable == 3
    rejects = {(r["row_number"], r["reason"]) for r in workspace.rejects()}
    assert (2, "not valid JSON") in rejects
    assert (3, "expected a JSON object, got array") in rejects
    assert any(row == 4 and reason.startswith("not UTF-8") for row, reason in rejects)
    assert (5, "record key id is empty") in rejects
    assert len(landed(workspace)) == 5  # nothing read is lost


def test_csv_row_with_wrong_column_count_is_kept(workspace: Workspace, add_source) -> None:
    add_source("crm", CRM, "crm.csv", ROWS + "3,too,many,columns,here,extra\n")
    [result] = workspace.load()
    assert result.rows_unreadable == 1
    [reject] = [r for r in workspace.rejects() if r["field"] == "(row)"]
    assert "expected 5 columns, got 6" in reject["reason"]
    assert "too,many" in reject["raw_value"]


def test_parquet_json_and_xlsx_sources(workspace: Workspace, add_source, tmp_path: Path) -> None:
    data = workspace.root / "data"
    pq.write_table(
        pa.table({"id": ["p1", "p2"], "email": ["p1@x.io", "p2@x.io"]}), data / "s.parquet"
    )
    (data / "s.json").write_text(json.dumps([{"id": "j1", "email": "j1@x.io"}]))
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["id", "email"])
    ws.append(["x1", "x1@x.io"])
    wb.save(data / "s.xlsx")
    for fmt in ("parquet", "json", "xlsx"):
        (workspace.root / "sources" / f"s_{fmt}.yml").write_text(
            f"name: s_{fmt}\npath: data/s.{fmt}\nformat: {fmt}\nchannel: online\n"
            "record_key: id\nidentifiers: {email: email}\n"
        )
    results = {r.source: r.rows_new for r in workspace.load()}
    assert results == {"s_json": 1, "s_parquet": 2, "s_xlsx": 1}
    workspace.resolve()
    assert workspace.query("SELECT count(*) AS n FROM profiles")[0]["n"] == 4
