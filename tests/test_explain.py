"""`explain`: the evidence behind a profile, and the path of links between two records."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from onefold import Workspace
from onefold.cli.explain_cmd import register
from onefold.cli.explain_render import render_path, render_profile
from onefold.errors import NotFoundError
from onefold.explain import (
    MatchEvidence,
    SharedIdentifier,
    explain_profile,
    explain_records,
)
from shared_sources import (  # its event time and device columns stay empty here
    PEOPLE_CRM,
    PEOPLE_MATCHING,
    SHOP,
    people_rows,
)

POS = """\
name: pos
path: data/pos.csv
format: csv
channel: offline
phone_region: US
record_key: receipt
identifiers: {phone: phone}
"""
# Ann: o1 holds her email and phone, o2 and o3 only the email, pos r1 only the phone, o4 her
# account and the family email. Bob: o5 (the family email, another account) and pos r2.
SHOP_ROWS = (
    "order,uid,email,phone,name\n"
    "o1,u-1,ann@mail.com,+1 415 555 0101,Ann Lee\n"
    "o2,,ann@mail.com,,Ann Lee\n"
    "o3,,ANN@mail.com,,\n"
    "o4,u-1,family@mail.com,,Ann Lee\n"
    "o5,u-2,family@mail.com,+1 415 555 0102,Bob Lee\n"
)
POS_ROWS = "receipt,phone\nr1,(415) 555-0101\nr2,4155550102\n"


def _text(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=400, color_system=None).print(renderable)
    return out.getvalue()


def _profile_of(ws: Workspace, source: str, key: str) -> str:
    [row] = ws.query(
        "SELECT profile_id FROM record_profiles WHERE source = ? AND record_key = ?",
        [source, key],
    )
    return str(row["profile_id"])


@pytest.fixture
def shop_ws(workspace: Workspace, add_source) -> Workspace:
    add_source("shop", SHOP, "shop.csv", SHOP_ROWS)
    add_source("pos", POS, "pos.csv", POS_ROWS)
    workspace.load()
    workspace.resolve()
    return workspace


@pytest.fixture
def matched_ws(workspace: Workspace, add_source):
    cfg = workspace.root / "onefold.yml"
    cfg.write_text(cfg.read_text() + PEOPLE_MATCHING)
    # t/0 is a/0 again under another account: b/0 can join only one of them
    clone = "t/0,u-t0,,Ann,Lee,,1950-01-13,Boston\n"
    add_source("crm", PEOPLE_CRM, "crm.csv", people_rows(60, sep="/") + clone)
    ws = Workspace(workspace.root)
    ws.load()
    ws.resolve()
    yield ws
    ws.close()


def test_profile_lists_the_values_that_join_its_records(shop_ws: Workspace) -> None:
    pid = _profile_of(shop_ws, "shop", "o1")
    expl = explain_profile(shop_ws, pid)
    assert expl.records == 5 and expl.sources == ("pos", "shop") and expl.name == "Ann Lee"
    ties = {(t.id_type, t.value): t for t in expl.ties}
    assert set(ties) == {("email", "ann@mail.com"), ("phone", "+14155550101"), ("user_id", "u-1")}
    email = ties[("email", "ann@mail.com")]
    assert sorted(r.ref for r in email.records) == ["shop/o1", "shop/o2", "shop/o3"]
    assert email.sources == ("shop",)
    phone = ties[("phone", "+14155550101")]
    assert sorted(r.ref for r in phone.records) == ["pos/r1", "shop/o1"]
    assert phone.sources == ("pos", "shop")
    assert expl.ties[0] == email  # most records first
    assert expl.links == () and expl.loose == ()
    assert [h.event for h in expl.history] == ["created"]

    text = _text(render_profile(expl))
    assert f"profile {pid} (Ann Lee) — 5 records from 2 sources" in text
    assert "email ann@mail.com joins 3 records (shop)" in text
    assert "phone +14155550101 joins 2 records (pos, shop)" in text


def test_family_email_is_shown_as_a_shared_value_not_used(shop_ws: Workspace) -> None:
    expl = explain_profile(shop_ws, _profile_of(shop_ws, "shop", "o1"))
    [unused] = expl.unused
    assert (unused.id_type, unused.value, unused.records) == ("email", "family@mail.com", 1)
    assert unused.reason == "seen with 2 user_id values (at most 1 allowed)"
    assert ("email", "family@mail.com") not in {(t.id_type, t.value) for t in expl.ties}
    text = _text(render_profile(expl))
    assert "shared value not used: email family@mail.com — seen with 2 user_id values" in text


def test_path_between_records_two_hops_apart(shop_ws: Workspace) -> None:
    expl = explain_records(shop_ws, "shop/o2", "pos/r1")
    assert expl.linked
    assert [(h.start.ref, h.end.ref) for h in expl.hops] == [
        ("shop/o2", "shop/o1"),
        ("shop/o1", "pos/r1"),
    ]
    assert [h.via for h in expl.hops] == [
        SharedIdentifier("email", "ann@mail.com"),
        SharedIdentifier("phone", "+14155550101"),
    ]
    text = _text(render_path(expl))
    assert "same profile" in text and "2 hops" in text
    assert "1. shop/o2 → shop/o1 share email ann@mail.com" in text
    assert "2. shop/o1 → pos/r1 share phone +14155550101" in text
    same = explain_records(shop_ws, "shop/o2", "shop/o2")
    assert same.linked and same.hops == () and same.notes == ("the same record",)


def test_records_in_different_profiles_say_why(shop_ws: Workspace) -> None:
    expl = explain_records(shop_ws, "shop/o4", "shop/o5")
    assert not expl.linked and expl.hops == ()
    [shared] = expl.shared
    assert (shared.id_type, shared.value) == ("email", "family@mail.com")
    assert "2 user_id values" in shared.reason
    assert expl.candidate is None and not expl.matching_enabled
    text = _text(render_path(expl))
    assert "shop/o4 and shop/o5 are not linked" in text
    assert "email family@mail.com — seen with 2 user_id values" in text
    assert "probabilistic matching is off" in text

    apart = explain_records(shop_ws, "shop/o2", "pos/r2")
    assert apart.shared == () and apart.notes[0] == "they share no identifier value"


def test_unknown_profile_and_bad_references(shop_ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no profile 'p_nope'.*profiles search"):
        explain_profile(shop_ws, "p_nope")
    with pytest.raises(NotFoundError, match="expected SOURCE/RECORD_KEY"):
        explain_records(shop_ws, "o1", "pos/r1")
    with pytest.raises(NotFoundError, match="Unknown source 'shops'.*Did you mean 'shop'"):
        explain_records(shop_ws, "shops/o1", "pos/r1")
    with pytest.raises(NotFoundError, match="'shop/o9'.*no record with key 'o9'"):
        explain_records(shop_ws, "pos/r1", "shop/o9")


def test_merged_profile_points_to_its_successor(workspace: Workspace, add_source) -> None:
    shop = add_source("shop", SHOP, "shop.csv", "order,uid,email,phone,name\no1,,x@mail.com,,\n")
    add_source("pos", POS, "pos.csv", "receipt,phone\nr1,4155550101\n")
    workspace.load()
    workspace.resolve()
    before = {_profile_of(workspace, "shop", "o1"), _profile_of(workspace, "pos", "r1")}
    assert len(before) == 2
    shop.write_text(shop.read_text() + "o2,,x@mail.com,4155550101,\n", encoding="utf-8")
    workspace.load()
    workspace.resolve()
    after = _profile_of(workspace, "shop", "o1")
    [gone] = before - {after}
    with pytest.raises(NotFoundError, match=f"'{gone}' was merged into {after}"):
        explain_profile(workspace, gone)
    events = [h.describe(after) for h in explain_profile(workspace, after).history]
    assert f"absorbed {gone}" in " ".join(events)


def test_probabilistic_link_path_carries_the_weights(matched_ws: Workspace) -> None:
    ws = matched_ws
    links = ws.query(
        "SELECT l.rid_l, a.record_key AS ka, b.record_key AS kb, l.match_weight "
        "FROM match_links l JOIN records a ON a.rid = l.rid_l JOIN records b ON b.rid = l.rid_r "
        "ORDER BY a.record_key LIMIT 1"
    )
    assert links, "matching should have merged some a/b pairs"
    link = links[0]
    expl = explain_records(ws, f"crm/{link['ka']}", f"crm/{link['kb']}")
    assert expl.linked
    [hop] = expl.hops
    assert hop.kind == "probabilistic" and isinstance(hop.via, MatchEvidence)
    ev = hop.via
    assert ev.match_weight == pytest.approx(link["match_weight"], abs=1e-9)
    assert ev.prior + sum(c.weight for c in ev.comparisons) == pytest.approx(
        ev.match_weight, abs=1e-6
    )
    assert [c.field for c in ev.comparisons] == ["person_name", "birth_date", "city", "phone"]
    labels = {c.field: c.label for c in ev.comparisons}
    assert labels["birth_date"] in ("exact", "day and month swapped")
    assert ev.probability >= 0.95 and ev.above_threshold
    text = _text(render_path(expl))
    assert "probabilistic link" in text and "prior: " in text and "birth_date: " in text

    profile = explain_profile(ws, expl.profile_a)
    assert any(e.a.rid == ev.a.rid and e.b.rid == ev.b.rid for e in profile.links)
    assert "probabilistic link" in _text(render_profile(profile))


def test_unlinked_records_show_their_score_against_the_threshold(matched_ws: Workspace) -> None:
    ws = matched_ws
    [pair] = ws.query(
        """
        SELECT a.source || '/' || a.record_key AS ra, b.source || '/' || b.record_key AS rb,
               p.match_weight
        FROM match_pairs p JOIN record_profiles a ON a.rid = p.rid_l
        JOIN record_profiles b ON b.rid = p.rid_r
        WHERE a.profile_id <> b.profile_id AND p.match_probability < 0.5
        ORDER BY ra, rb LIMIT 1
    """
    )
    expl = explain_records(ws, pair["ra"], pair["rb"])
    assert not expl.linked and expl.candidate is not None
    assert not expl.candidate.above_threshold
    assert expl.candidate.match_weight == pytest.approx(pair["match_weight"], abs=1e-9)
    c = expl.candidate
    assert c.prior + sum(t.weight for t in c.comparisons) == pytest.approx(c.match_weight, abs=1e-6)
    assert "below the threshold 0.95" in _text(render_path(expl))

    # no shared name and no shared birth year: blocking never paired them
    expl = explain_records(ws, "crm/a/0", "crm/a/1")
    assert not expl.linked and expl.candidate is None
    assert any("no candidate pair" in n for n in expl.notes)


def test_refused_merge_is_reported(matched_ws: Workspace) -> None:
    """b/0 matches a/0 and its clone t/0 (another account) equally well: one merge is
    accepted, the other scored above the threshold and refused by clustering."""
    joined = _profile_of(matched_ws, "crm", "b/0")
    [refused] = [k for k in ("a/0", "t/0") if _profile_of(matched_ws, "crm", k) != joined]
    expl = explain_records(matched_ws, f"crm/{refused}", "crm/b/0")
    assert not expl.linked and expl.candidate is not None and expl.candidate.above_threshold
    assert any("merge was refused" in n for n in expl.notes)
    text = _text(render_path(expl))
    assert "above the threshold 0.95" in text and "birth_date: exact" in text


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so `explain` stays a named subcommand
        """Placeholder."""

    return app


def test_cli_explains_a_profile_and_a_path(shop_ws: Workspace) -> None:
    runner = CliRunner()
    root = str(shop_ws.root)
    pid = _profile_of(shop_ws, "shop", "o1")
    shop_ws.close()  # the CLI opens the workspace itself
    app = _cli()
    result = runner.invoke(app, ["explain", pid, "-w", root], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"profile {pid} (Ann Lee)" in result.output
    assert "shared value not used: email family@mail.com" in result.output

    result = runner.invoke(
        app, ["explain", "shop/o2", "pos/r1", "--workspace", root], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "2 hops" in result.output and "share phone +14155550101" in result.output

    result = runner.invoke(app, ["explain", "p_nope", "-w", root])
    assert isinstance(result.exception, NotFoundError)
    result = runner.invoke(app, ["explain", "a", "b", "c", "-w", root])
    assert result.exit_code == 2 and "expected a profile id" in result.output
    result = runner.invoke(app, ["explain", "shop/o1", "-w", root])
    assert result.exit_code == 2


def test_cli_on_a_missing_workspace_fails_cleanly(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["explain", "p_x", "-w", str(tmp_path)])
    assert result.exit_code != 0 and "not an onefold workspace" in str(result.exception)
