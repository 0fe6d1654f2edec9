"""The whole batch pipeline on generated sample data, scored against its ground truth."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from onefold import Workspace
from onefold.quality.accuracy import score_against_truth
from onefold.sample import generate


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    root = tmp_path_factory.mktemp("e2e") / "ws"
    ws = Workspace.init(root)
    summary = generate(root, persons=3000, seed=11)
    ws.load()
    ws.resolve()
    return ws, summary.ground_truth


def test_precision_and_recall_against_ground_truth(resolved) -> None:
    ws, truth = resolved
    acc = score_against_truth(ws.engine, truth)
    # deterministic links only: no junk or shared value may glue strangers together
    assert acc.precision >= 0.99, acc
    # what a deterministic graph can reach on this data is ~0.57 (the rest needs
    # probabilistic matching); far below means links that should hold are lost
    assert acc.recall >= 0.5, acc
    assert acc.largest_profile < 100, acc


def test_profiles_join_at_least_four_channels(resolved) -> None:
    ws, _ = resolved
    best = ws.query("SELECT max(source_count) AS n FROM profiles")[0]["n"]
    assert best >= 4


def test_every_record_is_linked_and_exported(resolved, tmp_path: Path) -> None:
    ws, truth = resolved
    out = tmp_path / "links.csv"
    n = ws.export_links(out)
    with out.open() as fh, truth.open() as th:
        links = {(r["source"], r["record_key"]) for r in csv.DictReader(fh)}
        expected = {(r["source"], r["record_key"]) for r in csv.DictReader(th)}
    assert n == len(links) == len(expected)
    assert links == expected


def test_search_finds_a_profile_by_a_raw_phone_format(resolved) -> None:
    ws, _ = resolved
    row = ws.query("""
        SELECT v.raw, p.profile_id FROM record_values v JOIN record_profiles p USING (rid)
        WHERE v.name = 'phone' AND v.status = 'valid' AND v.raw LIKE '+86 %' LIMIT 1""")[0]
    hits = ws.search(row["raw"])
    assert row["profile_id"] in [h["profile_id"] for h in hits]


def test_rejects_and_suspicious_values_are_kept_with_reasons(resolved) -> None:
    ws, _ = resolved
    rejects = ws.rejects(limit=10_000)
    assert rejects and all(r["reason"] and r["file"] and r["row_number"] for r in rejects)
    reasons = " ".join(r["reason"] for r in rejects)
    assert "placeholder" in reasons  # junk values from the generator
    swapped = ws.query("SELECT count(*) AS n FROM record_values WHERE reason LIKE '%swapped%'")
    assert swapped[0]["n"] > 0  # day/month swaps kept, flagged as suspicious
    masked = ws.query("SELECT count(*) AS n FROM record_values WHERE status = 'partial'")
    assert masked[0]["n"] > 0  # masked phones recognised, never used as full phones


def test_inventory_reports_every_source(resolved) -> None:
    ws, _ = resolved
    inventory = {s.name: s for s in ws.sources()}
    assert len(inventory) == 9
    crm = inventory["crm_contacts"]
    assert crm.records > 0 and crm.fresh is True
    email = next(f for f in crm.fields if f.name == "email")
    assert 0 < email.null_rate < 0.5 and 0.5 < email.validity <= 1


def test_cli_end_to_end(tmp_path: Path) -> None:
    """The real `onefold` command, as a user would type it."""
    ws = tmp_path / "cli-ws"

    def onefold(*args: str) -> str:
        cmd = [sys.executable, "-m", "onefold.cli", *args]
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=300,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    onefold("init", str(ws))
    onefold("sample", "--persons", "300", "--seed", "3", "--out", str(ws))
    assert "crm_contacts" in onefold("load", "-w", str(ws))
    assert "(full)" in onefold("resolve", "-w", str(ws))
    assert "(incremental, region 0 profiles)" in onefold("resolve", "--incremental", "-w", str(ws))
    assert "fresh" in onefold("sources", "-w", str(ws))
    assert "reason" in onefold("rejects", "-w", str(ws))
    assert "identifier coverage" in onefold("quality", "-w", str(ws))
    out = tmp_path / "p.parquet"
    assert "profiles" in onefold(
        "export", "profiles", "--format", "parquet", "--out", str(out), "-w", str(ws)
    )
    assert out.stat().st_size > 0
    links = tmp_path / "links.csv"
    onefold("export", "links", "--out", str(links), "-w", str(ws))
    first = links.read_text().splitlines()[1].split(",")
    pid = first[2]
    shown = onefold("profiles", "show", pid, "-w", str(ws))
    assert pid in shown and "timeline" in shown
    assert pid in onefold("profiles", "search", pid, "-w", str(ws))
    failed = subprocess.run(
        [sys.executable, "-m", "onefold.cli", "load", "nope", "-w", str(ws)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1 and "unknown source 'nope'" in failed.stdout


def test_profile_documents_are_the_profile_tables_and_rebuilt_for_older_workspaces(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    with Workspace.init(root) as ws:
        generate(root, persons=300, seed=5)
        ws.load()
        ws.resolve()
        top = "SELECT profile_id FROM profiles ORDER BY records DESC, profile_id LIMIT 1"
        pid = ws.query(top)[0]["profile_id"]
        view = ws.profile(pid)
        # the document holds what the four profile tables hold for that profile
        identifiers = ws.query(
            "SELECT id_type, value FROM profile_identifiers WHERE profile_id = ? ORDER BY ALL",
            [pid],
        )
        assert sorted((i["id_type"], i["value"]) for i in view.identifiers) == [
            (i["id_type"], i["value"]) for i in identifiers
        ]
        traits = ws.query("SELECT trait FROM profile_traits WHERE profile_id = ?", [pid])
        assert sorted(t["trait"] for t in view.traits) == sorted(t["trait"] for t in traits)
        assert view.profile["profile_id"] == pid
        before = ws.query("SELECT * FROM profile_docs ORDER BY profile_id")
        ws.engine.execute("DROP TABLE profile_docs")  # a workspace resolved by an older onefold
    with Workspace(root) as ws:
        assert ws.query("SELECT * FROM profile_docs ORDER BY profile_id") == before
        assert ws.profile(pid).identifiers == view.identifiers
