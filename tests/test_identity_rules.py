"""Identity rules from onefold.yml: per-profile limits (with windows) and blocked values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from incremental_helpers import links, partition
from onefold import Workspace
from onefold.cli.explain_render import render_profile
from onefold.config.settings import ProfileLimit
from onefold.errors import ConfigError
from onefold.explain import explain_profile, explain_records
from onefold.identity.limits import Node, split_component
from shared_sources import SHOP
from shared_sources import SHOP_HEAD as HEAD

#: user u-1 and user u-2 are chained by an email and a phone, no value shared by both users
CHAIN = (
    "o1,u-1,ann@mail.com,,,Ann Lee,2024-01-01\n"
    "o2,,ann@mail.com,+14155550101,,Ann Lee,2024-01-02\n"
    "o3,u-2,,+14155550101,,Ann Lee,2024-01-03\n"
)


def configure(ws: Workspace, identity_yaml: str) -> Workspace:
    """Rewrite onefold.yml with these identity settings and reopen the workspace."""
    (ws.root / "onefold.yml").write_text(f"name: test\nidentity:\n{identity_yaml}", "utf-8")
    ws.close()
    return Workspace(ws.root)


@pytest.fixture
def shop(workspace: Workspace) -> Iterator[Callable[[str], None]]:
    def write(rows: str) -> None:
        (workspace.root / "sources" / "shop.yml").write_text(SHOP, encoding="utf-8")
        (workspace.root / "data" / "shop.csv").write_text(HEAD + rows, encoding="utf-8")

    yield write


def by_key(ws: Workspace) -> dict[str, str]:
    return {key: pid for (_, key), pid in links(ws).items()}


def test_a_chain_between_two_user_ids_drops_the_weakest_link(workspace, shop):
    shop(CHAIN)
    workspace.load()
    result = workspace.resolve()
    p = by_key(workspace)
    assert p["o1"] == p["o2"] != p["o3"]
    assert (result.graph.limited, result.graph.conflicts) == (1, 1)
    [c] = workspace.query(
        "SELECT r.record_key, c.node_key, c.limit_type, c.max_values, c.would_hold "
        "FROM identity_conflicts c JOIN records r USING (rid)"
    )
    assert c == {
        "record_key": "o3",
        "node_key": "phone:+14155550101",
        "limit_type": "user_id",
        "max_values": 1,
        "would_hold": 2,
    }
    # the value stays on the record; its profile shows it, the link is what was dropped
    ids = workspace.query(
        "SELECT profile_id FROM profile_identifiers WHERE id_type = 'phone' ORDER BY 1"
    )
    assert sorted(r["profile_id"] for r in ids) == sorted({p["o1"], p["o3"]})


def test_without_the_limit_the_chain_merges(workspace, shop):
    ws = configure(workspace, "  profile_limits: {}\n")
    shop(CHAIN)
    ws.load()
    ws.resolve()
    assert len(set(by_key(ws).values())) == 1
    ws.close()


def test_email_limit_keeps_the_first_five(workspace, shop):
    rows = "".join(f"o{i},u-1,a{i}@mail.com,,,,2024-01-0{i + 1}\n" for i in range(7))
    shop(rows)
    workspace.load()
    workspace.resolve()
    p = by_key(workspace)
    assert len({p[f"o{i}"] for i in range(5)}) == 1
    assert p["o5"] != p["o0"] and p["o6"] != p["o0"]
    dropped = workspace.query(
        "SELECT node_key, limit_type FROM identity_conflicts ORDER BY node_key"
    )
    assert dropped == [{"node_key": "user_id:u-1", "limit_type": "email"}] * 2


def test_windowed_limit_counts_only_recent_values(workspace, shop):
    ws = configure(workspace, "  profile_limits: {device_id: {max: 2, window_days: 7}}\n")
    shop(
        "o1,u-1,,,dev-1,,2024-01-01\n"
        "o2,u-1,,,dev-2,,2024-01-02\n"
        "o3,u-1,,,dev-3,,2024-01-03\n"  # a third new device in a week: not joined
        "o4,u-1,,,dev-4,,2024-03-01\n"  # two months later a new phone is normal
    )
    ws.load()
    ws.resolve()
    p = by_key(ws)
    assert p["o1"] == p["o2"] == p["o4"] != p["o3"]
    [c] = ws.query("SELECT node_key, limit_type, window_days FROM identity_conflicts")
    assert c == {"node_key": "user_id:u-1", "limit_type": "device_id", "window_days": 7.0}
    ws.close()


def test_must_link_override_wins_over_a_limit(workspace, shop):
    shop(CHAIN)
    workspace.load()
    workspace.resolve()
    workspace.add_override("must_link", "user_id:u-1", "user_id:u-2", note="one person")
    workspace.resolve()
    assert len(set(by_key(workspace).values())) == 1


def test_incremental_run_with_a_limit_equals_a_full_run(workspace, shop):
    shop(CHAIN)
    workspace.load()
    workspace.resolve()
    more = "o4,,ann@mail.com,,dev-9,,2024-01-04\no5,,,+14155550101,,,2024-01-05\n"
    shop(CHAIN + more)  # landing is idempotent per row: only the two new rows land
    workspace.load()
    result = workspace.resolve(incremental=True)
    assert result.mode == "incremental"
    incremental = partition(links(workspace))
    conflicts = "SELECT rid, node_key, limit_type FROM identity_conflicts ORDER BY ALL"
    kept = workspace.query(conflicts)
    full = workspace.resolve()
    assert full.mode == "full" and partition(links(workspace)) == incremental
    assert kept == workspace.query(conflicts) and len(kept) == 1  # o3's phone link
    p = by_key(workspace)
    assert p["o1"] == p["o4"] == p["o5"] != p["o3"]  # the phone belongs to u-1's profile


def test_replay_lets_one_record_carry_its_own_two_user_ids():
    u1, u2 = Node(1, "user_id:a", "user_id"), Node(2, "user_id:b", "user_id")
    mail = Node(3, "email:x@mail.com", "email")
    split = split_component(
        [(10, 0.0, [u1, u2, mail]), (11, 1.0, [mail])],
        {"user_id": ProfileLimit(max=1)},
        {"user_id": 0, "email": 1}.__getitem__,
    )
    assert split.conflicts == [] and split.group_of[10] == split.group_of[11]


def test_blocked_values_and_patterns_never_link(workspace, shop):
    ws = configure(
        workspace,
        "  blocked_values: {phone: ['+14155550000'], '*': [walk-in]}\n"
        "  blocked_patterns: {email: ['.*@mystore\\.com']}\n",
    )
    shop(
        "o1,walk-in,till@mystore.com,(415) 555-0000,,Ann Lee,2024-01-01\n"
        "o2,walk-in,till@mystore.com,+1 415 555 0000,,Bob Ray,2024-01-02\n"
    )
    ws.load()
    ws.resolve()
    p = by_key(ws)
    assert p["o1"] != p["o2"]
    reasons = sorted({r["reason"] for r in ws.rejects()})
    assert reasons == [
        "identifier email: matches blocked pattern .*@mystore\\.com "
        "(identity.blocked_patterns.email)",
        "identifier phone: blocked value (identity.blocked_values.phone)",
        "identifier user_id: blocked value (identity.blocked_values.*)",
    ]
    ws.close()


def test_a_bad_pattern_is_a_config_error(workspace: Workspace):
    root: Path = workspace.root
    (root / "onefold.yml").write_text("identity:\n  blocked_patterns: {email: ['(']}\n")
    with pytest.raises(ConfigError, match=r"blocked_patterns.email: '\(' is not a regular"):
        Workspace(root)


def test_explain_shows_the_dropped_link_and_why(workspace, shop):
    shop(CHAIN)
    workspace.load()
    workspace.resolve()
    p = by_key(workspace)
    expl = explain_profile(workspace, p["o3"])
    [d] = expl.dropped
    assert (d.record.ref, d.id_type, d.value) == ("shop/o3", "phone", "+14155550101")
    assert "profile limit on user_id: at most 1, the merge would have held 2" in d.reason
    console = Console(width=200, record=True)
    console.print(render_profile(expl))
    assert "link not used: shop/o3 holds phone +14155550101" in console.export_text()
    apart = explain_records(workspace, "shop/o2", "shop/o3")
    [shared] = apart.shared
    assert shared.value == "+14155550101" and "profile limit on user_id" in shared.reason
