"""Cleaning replays after a mapping fix; config junk; survivorship of the golden record."""

from __future__ import annotations

from onefold import Workspace

CRM = """\
name: crm
path: data/crm.csv
format: csv
channel: offline
record_key: id
event_time: {{field: modified, formats: ["%Y-%m-%d"]}}
identifiers: {{email: email}}
traits:
  full_name: name
  birth_date: {{field: dob, formats: ["{dob_format}"]}}
  city: city
"""
SHOP = """\
name: shop
path: data/shop.csv
format: csv
channel: online
record_key: id
event_time: {field: at, formats: ["%Y-%m-%d"]}
identifiers: {email: email}
traits: {full_name: name, city: city}
"""


def test_fixing_a_mapping_replays_its_rejects(workspace: Workspace, add_source) -> None:
    add_source(
        "crm",
        CRM.format(dob_format="%d/%m/%Y"),
        "crm.csv",
        "id,name,email,dob,city,modified\n1,Ann Lee,ann@mail.com,1990-03-04,SF,2024-01-01\n",
    )
    workspace.load()
    workspace.resolve()
    [reject] = workspace.rejects()
    assert reject["field"] == "dob" and reject["raw_value"] == "1990-03-04"
    assert "1990-03-04" in reject["reason"] and "%d/%m/%Y" in reject["reason"]

    (workspace.root / "sources" / "crm.yml").write_text(CRM.format(dob_format="%Y-%m-%d"))
    workspace.resolve()  # no reload: cleaning re-runs from the landed rows
    assert workspace.rejects() == []
    [p] = workspace.query("SELECT birth_date FROM profiles")
    assert p["birth_date"] == "1990-03-04"


def test_junk_values_from_config_are_rejected(tmp_path, add_source, workspace) -> None:
    cfg = workspace.root / "onefold.yml"
    cfg.write_text(cfg.read_text().replace("junk_values: []", "junk_values: [nobody@shop.cn]"))
    ws = Workspace(workspace.root)
    add_source(
        "crm",
        CRM.format(dob_format="%Y-%m-%d"),
        "crm.csv",
        "id,name,email,dob,city,modified\n1,A,nobody@shop.cn,,,2024-01-01\n"
        "2,B,NOBODY@shop.cn,,,2024-01-01\n",
    )
    ws.load()
    ws.resolve()
    assert {r["status"] for r in ws.rejects()} == {"junk"}
    assert ws.query("SELECT count(*) AS n FROM profiles")[0]["n"] == 2
    ws.close()


def test_most_recent_value_wins_unless_a_source_has_priority(workspace, add_source) -> None:
    add_source(
        "crm",
        CRM.format(dob_format="%Y-%m-%d"),
        "crm.csv",
        "id,name,email,dob,city,modified\n1,Ann Lee,ann@mail.com,,Boston,2023-01-01\n",
    )
    add_source(
        "shop",
        SHOP,
        "shop.csv",
        "id,name,email,city,at\n"
        "o1,ANN LEE,ann@mail.com,Seattle,2024-06-01\n"
        "o2,,ann@mail.com,,2024-07-01\n",
    )  # newest record, but empty: nulls never win
    workspace.load()
    workspace.resolve()
    [p] = workspace.query("SELECT name, city, sources FROM profiles")
    assert p == {"name": "Ann Lee", "city": "Seattle", "sources": ["crm", "shop"]}

    cfg = workspace.root / "onefold.yml"
    cfg.write_text(cfg.read_text().replace("source_priority: []", "source_priority: [crm]"))
    ws = Workspace(workspace.root)
    ws.resolve()
    [p] = ws.query("SELECT city FROM profiles")
    assert p["city"] == "Boston"
    [trait] = ws.query("SELECT source FROM profile_traits WHERE trait = 'city'")
    assert trait["source"] == "crm"
    ws.close()


def test_timeline_and_revenue(workspace, add_source) -> None:
    add_source(
        "pos",
        "name: pos\npath: data/pos.csv\nformat: csv\nchannel: offline\n"
        "record_key: id\nevent_time: at\nevent_type: store_purchase\n"
        "identifiers: {loyalty_card: card}\norder: {amount: amount, currency: cur}\n",
        "pos.csv",
        "id,card,amount,cur,at\n"
        "r1,LC1,10.50,usd,2024-01-02T00:00:00Z\nr2,LC1,4.50,USD,2024-01-01T00:00:00Z\n"
        "r3,LC1,100,CNY,2024-01-03T00:00:00Z\n",
    )
    workspace.load()
    workspace.resolve()
    [p] = workspace.query("SELECT profile_id, orders, revenue FROM profiles")
    assert p["orders"] == 3
    assert dict(p["revenue"]) == {"CNY": 100.0, "USD": 15.0}
    view = workspace.profile(p["profile_id"])
    assert [t["record_key"] for t in view.timeline] == ["r2", "r1", "r3"]
    assert {t["event_type"] for t in view.timeline} == {"store_purchase"}


def test_each_distinct_value_is_normalised_once(workspace, add_source) -> None:
    add_source(
        "crm",
        CRM.format(dob_format="%Y-%m-%d"),
        "crm.csv",
        "id,name,email,dob,city,modified\n1,A,a@mail.com,,,2024-01-01\n"
        "2,A,a@mail.com,,,2024-01-01\n",
    )
    (workspace.root / "sources" / "pos.yml").write_text(
        "name: pos\npath: data/pos.csv\nformat: csv\nchannel: offline\nrecord_key: id\n"
        "identifiers: {phone: phone}\n"
    )
    (workspace.root / "data" / "pos.csv").write_text(
        "id,phone\n1,(415) 555-2671\n2,415-555-2671\n3,415.555.2671\n4,(415) 555-2671\n"
    )
    workspace.load()
    first = workspace.resolve()
    cached = workspace.query("SELECT normaliser, raw FROM normalised_values ORDER BY ALL")
    assert {"normaliser": "id.phone", "raw": "4155552671"} in cached
    assert sum(c["normaliser"] == "id.phone" for c in cached) == 1  # three formats, one parse
    assert sum(c["normaliser"] == "id.email" for c in cached) == 1
    assert first.clean.normalised_now == len(cached)
    assert workspace.resolve().clean.normalised_now == 0  # a re-run normalises nothing
    raws = workspace.query("SELECT DISTINCT raw FROM record_values WHERE name = 'phone'")
    assert len(raws) == 3  # the raw text itself is kept as it came
