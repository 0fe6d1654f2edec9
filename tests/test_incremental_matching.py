"""Incremental runs with probabilistic matching: new records are scored with the stored model
against the records that share a blocking key, and the region grows along links above the
threshold — giving exactly what a full re-run with the same model gives."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from incremental_helpers import links as record_links
from incremental_helpers import sample_in_two_halves
from onefold import Workspace
from onefold.cli.main import app
from onefold.engine import DuckDBEngine
from onefold.identity.incremental_matching import widen_by_match_links
from onefold.workspace import ResolveResult
from shared_sources import PEOPLE_CRM, PEOPLE_HEAD, PEOPLE_MATCHING, people_rows, profile_links
from test_fast_path import TABLES

PROFILE_TABLES = (*TABLES, "profile_keys")


def rows(ws: Workspace, table: str) -> list[tuple[object, ...]]:
    return [tuple(map(repr, r)) for r in ws.engine.fetchall(f"SELECT * FROM {table} ORDER BY ALL")]


def scored_pairs(ws: Workspace, table: str = "match_pairs") -> list[tuple[object, ...]]:
    """Every pair of `table` by its records' names, with its levels, weights and score.

    Record ids differ between the two runs (an incremental one numbers new records after the
    old), so a pair can be the other way round: each record's value frequency (`tfl_`,
    `tfr_`) is listed smaller first; everything else about a pair is symmetric."""
    ref = "{t}.source || '/' || {t}.record_key"
    cur = ws.engine.fetch_dicts(
        f"""SELECT least({ref.format(t="a")}, {ref.format(t="b")}) AS lo,
                   greatest({ref.format(t="a")}, {ref.format(t="b")}) AS hi,
                   p.* EXCLUDE (rid_l, rid_r)
            FROM {table} p JOIN records a ON a.rid = p.rid_l JOIN records b ON b.rid = p.rid_r"""
    )
    out = []
    for row in cur:
        for left in [k for k in row if k.startswith("tfl_")]:
            right = "tfr_" + left[4:]
            pair = sorted((row[left], row[right]), key=lambda x: (x is not None, x))
            row[left], row[right] = pair
        out.append(tuple(repr(v) for v in row.values()))
    return sorted(out)


#: Names do not make values shared (a test needs three people on one phone).
NO_NAME_HUBS = "identity:\n  name_conflict_similarity: null\n"


def people_workspace(root: Path, csv: str, identity: str = "") -> Path:
    ws = Workspace.init(root, root.name)
    cfg = ws.root / "onefold.yml"
    text = cfg.read_text(encoding="utf-8")
    if identity:
        text = text.replace("identity:\n", identity)
    cfg.write_text(text + PEOPLE_MATCHING, encoding="utf-8")
    (ws.root / "sources" / "crm.yml").write_text(PEOPLE_CRM, encoding="utf-8")
    (ws.root / "data").mkdir()
    (ws.root / "data" / "crm.csv").write_text(csv, encoding="utf-8")
    ws.close()
    return root


Land = Callable[[Workspace], None]


def both_ways(
    tmp: Path,
    first: str,
    then: list[str | Land],
    identity: str = "",
    overrides: tuple[tuple[str, str], ...] = (),
) -> tuple[Path, Path, ResolveResult]:
    """Resolve `first` (a full run, which trains the model), then land each of `then` — rows
    appended to the CSV, or a function landing events — and resolve one copy incrementally
    and one in full. Both copies hold the same landed rows and the same model, so the two
    runs must agree; returns both workspaces and the last incremental result. `overrides`
    (cannot-links) are added and applied by a second full run before the copies."""
    base = people_workspace(tmp / "base", PEOPLE_HEAD + first, identity)
    with Workspace(base) as ws:
        ws.load()
        assert ws.resolve().matching.trained  # type: ignore[union-attr]
        for a, b in overrides:
            ws.add_override("cannot_link", a, b)
        if overrides:
            ws.resolve()
    shutil.copytree(base, tmp / "inc")
    shutil.copytree(base, tmp / "full")
    inc_result = None
    for step in then:
        for name in ("inc", "full"):
            if name == "full":  # the same landed rows (and load times) as `inc` got
                shutil.rmtree(tmp / "full")
                shutil.copytree(tmp / "landed", tmp / "full")
                with Workspace(tmp / "full") as ws:
                    result = ws.resolve()
                    assert result.mode == "full" and not result.matching.trained  # type: ignore[union-attr]
                continue
            with Workspace(tmp / "inc") as ws:
                if callable(step):
                    step(ws)
                else:
                    data = ws.root / "data" / "crm.csv"
                    data.write_text(data.read_text(encoding="utf-8") + step, encoding="utf-8")
                    ws.load()
            shutil.rmtree(tmp / "landed", ignore_errors=True)
            shutil.copytree(tmp / "inc", tmp / "landed")  # landed, not resolved yet
            with Workspace(tmp / "inc") as ws:
                inc_result = ws.resolve(incremental=True)
                assert inc_result.mode == "incremental", inc_result.full_reason
    assert inc_result is not None
    return tmp / "inc", tmp / "full", inc_result


def assert_same(inc: Path, full: Path) -> dict[str, str]:
    with Workspace(inc) as a, Workspace(full) as b:
        links = profile_links(a)
        assert links == profile_links(b)  # every record, the same profile id
        for table in PROFILE_TABLES:
            assert rows(a, table) == rows(b, table), table
        assert scored_pairs(a) == scored_pairs(b)  # the pairs, scored alike
        assert scored_pairs(a, "match_links") == scored_pairs(b, "match_links")
        return links


def people(n: int) -> tuple[str, list[str]]:
    """`people_rows(n)` as its header and its rows."""
    lines = people_rows(n).splitlines(keepends=True)
    return lines[0], lines[1:]


def test_new_records_that_match_only_probabilistically(tmp_path):
    """The b-rows carry no identifier: only matching joins them to their a-row's profile."""
    _, body = people(40)
    late = {f"b{i}," for i in range(30, 40)}
    first = [r for r in body if not any(r.startswith(p) for p in late)]
    added = [r for r in body if r not in first]
    inc, full, result = both_ways(tmp_path, "".join(first), ["".join(added)])
    links = assert_same(inc, full)
    assert all(links[f"b{i}"] == links[f"a{i}"] for i in range(40))
    assert result.matching is not None and not result.matching.trained
    assert result.matching.records == 10 and result.matching.merges == 10
    # the region is the ten a-profiles reached by the new links, not the other thirty
    assert result.region is not None and result.region.profiles == 10
    assert result.region.records == 20


def test_a_single_event_is_scored_against_the_stored_model(tmp_path):
    _, body = people(20)
    first = [r for r in body if not r.startswith("b7,")]

    def event(ws: Workspace) -> None:
        ws.ingest(
            "crm",
            [{"id": "b7", "name": "Hana Lex", "dob": "20/08/1957", "city": "Tulsa"}],
            resolve=False,
        )

    inc, full, result = both_ways(tmp_path, "".join(first), [event])
    links = assert_same(inc, full)
    assert links["b7"] == links["a7"]
    assert result.region is not None and result.region.profiles == 1


def exact_copies(body: list[str], n: int) -> list[str]:
    """`d<i>`: the a-rows' people again, the name written in full, nothing misspelt — so the
    model also learns what an exact name is worth."""
    out = []
    for row in body[: 2 * n : 2]:
        key, _, _, first, last, _, dob, city = row.rstrip("\n").split(",")
        out.append(f"d{key[1:]},,,,,{first} {last},{dob},{city}\n")
    return out


def test_a_new_record_bridges_two_profiles(tmp_path):
    """`Ann Lee` and `Ann Leigh`, born the same day in the same city: their names are too far
    apart (Jaro–Winkler 0.905), so two profiles. `Ann Lei` is close to both (0.943, 0.956):
    it links to each above the threshold and joins them into one — clustering merges it
    with one side, and the merged side with the other holds one agreeing pair of two."""
    _, body = people(30)
    first = [
        *body,
        *exact_copies(body, 20),
        "c1,,,,,Ann Lee,1961-04-20,Boston\n",
        "c2,,,,,Ann Leigh,1961-04-20,Boston\n",
    ]
    base = people_workspace(tmp_path / "before", PEOPLE_HEAD + "".join(first))
    with Workspace(base) as ws:
        ws.load()
        ws.resolve()
        before = profile_links(ws)
    assert before["c1"] != before["c2"]
    inc, full, result = both_ways(tmp_path, "".join(first), ["c3,,,,,Ann Lei,1961-04-20,Boston\n"])
    links = assert_same(inc, full)
    assert links["c1"] == links["c2"] == links["c3"]
    assert result.region is not None and result.region.profiles == 2


def test_links_stored_from_earlier_runs_widen_the_region(tmp_path):
    """A phone held Ann, Bea and Cal together; Bea's duplicate (no identifier) linked to her
    above the threshold but not to the others: one agreeing pair of three, not coherent, so
    it stayed apart. A new record makes the phone shared (a second user id): the three fall
    apart, and Bea's duplicate now joins her. Nothing new links to the duplicate — only the
    link stored from the first run brings its profile into the region."""
    _, body = people(30)
    first = [
        *body,
        *exact_copies(body, 20),
        "p1,u-p1,+44 20 7183 8750,Ann,Lee,,1970-01-01,Boston\n",
        "p2,,+44 20 7183 8750,Bea,Moss,,1970-05-05,Denver\n",
        "p3,,+44 20 7183 8750,Cal,Nash,,1970-09-09,Austin\n",
        "q2,,,Bea,Moss,,1970-05-05,Denver\n",
    ]
    base = people_workspace(tmp_path / "before", PEOPLE_HEAD + "".join(first), NO_NAME_HUBS)
    with Workspace(base) as ws:
        ws.load()
        ws.resolve()
        before = profile_links(ws)
    assert before["p1"] == before["p2"] == before["p3"] != before["q2"]
    inc, full, result = both_ways(
        tmp_path, "".join(first), ["p9,u-p9,+44 20 7183 8750,,,,,\n"], NO_NAME_HUBS
    )
    links = assert_same(inc, full)
    assert links["q2"] == links["p2"] != links["p1"]
    assert result.region is not None and result.region.profiles == 2


def test_a_cannot_link_holds_against_a_new_probabilistic_bridge(tmp_path):
    """a3 and b3 are kept apart by a cannot-link; a new copy of b3 links to both above the
    threshold and joins one side only, as the full run decides."""
    _, body = people(20)
    b3 = next(r for r in body if r.startswith("b3,"))
    inc, full, result = both_ways(
        tmp_path,
        "".join(body),
        [b3.replace("b3,", "c3,", 1)],
        overrides=(("crm/a3", "crm/b3"),),
    )
    links = assert_same(inc, full)
    assert links["a3"] != links["b3"] and links["c3"] in (links["a3"], links["b3"])
    assert result.region is not None and result.region.profiles == 2


def test_records_that_match_nothing_touch_no_profile(tmp_path):
    _, body = people(20)
    inc, full, result = both_ways(
        tmp_path, "".join(body), ["z1,,,Zora,Quixby,,2001-02-03,Reno\nz2,,,Yann,Vex,,,Oslo\n"]
    )
    links = assert_same(inc, full)
    assert links["z1"] != links["z2"]
    assert result.region is not None
    assert (result.region.profiles, result.region.records) == (0, 2)


def test_a_batch_of_new_records_in_several_runs(tmp_path):
    """Three deliveries: new people, their duplicates and duplicates of older people."""
    _, body = people(60)
    a_rows = [r for r in body if r.startswith("a")]
    b_rows = [r for r in body if r.startswith("b")]
    first = a_rows[:30] + b_rows[:20]
    then = [
        "".join(a_rows[30:45] + b_rows[20:35]),
        "".join(b_rows[35:50] + a_rows[45:]),
        "".join(b_rows[50:]),
    ]
    inc, full, result = both_ways(tmp_path, "".join(first), list(then))
    links = assert_same(inc, full)
    assert all(links[f"b{i}"] == links[f"a{i}"] for i in range(60))


@pytest.mark.parametrize("change", ["retrain", "settings", "no model", "threshold"])
def test_when_the_model_is_trained_again(tmp_path, change):
    """A full run trains when asked to, when the matching settings the model was trained
    under changed, or when none is stored; a new threshold only clusters differently."""
    _, body = people(10)
    root = people_workspace(tmp_path / "w", PEOPLE_HEAD + "".join(body))
    with Workspace(root) as ws:
        ws.load()
        assert ws.resolve().matching.trained  # type: ignore[union-attr]
        cfg = ws.root / "onefold.yml"
        if change == "settings":
            cfg.write_text(cfg.read_text() + "  max_em_iterations: 20\n")
        if change == "threshold":
            cfg.write_text(cfg.read_text().replace("threshold: 0.95", "threshold: 0.9"))
        if change == "no model":  # a workspace resolved before models were kept
            ws.engine.execute("DELETE FROM match_model")
    with Workspace(root) as ws:
        result = ws.resolve(incremental=True, retrain=change == "retrain")
        assert result.mode == "full" and result.matching is not None
        assert result.matching.trained == (change != "threshold")
        reason = result.full_reason or ""
        expected = {"retrain": "retrain", "no model": "needs training"}.get(change, "changed")
        assert expected in reason
        again = ws.resolve(incremental=True)
        assert again.mode == "incremental", again.full_reason
        assert ws.resolve().matching.trained is False  # type: ignore[union-attr]


def test_a_corrected_record_is_scored_again(tmp_path):
    """A record delivered again with other values replaces its old version: the old
    version's pairs go, the new one is scored, and the profile it left is recomputed."""
    _, body = people(20)

    def correct(ws: Workspace) -> None:
        data = ws.root / "data" / "crm.csv"
        text = data.read_text(encoding="utf-8")
        # b5 was Finn Lex born 1955; the correction makes it someone else, and b6 Finn's
        b5 = next(r for r in body if r.startswith("b5,"))
        b6 = next(r for r in body if r.startswith("b6,"))
        a5 = next(r for r in body if r.startswith("a5,"))
        _, _, _, _, _, _, dob, city = a5.rstrip("\n").split(",")
        text = text.replace(b5, "b5,,,,,Zed Quux,01/01/1999,Reno\n")
        text = text.replace(b6, f"b6,,,,,Finn Lex,{dob},{city}\n")
        data.write_text(text, encoding="utf-8")
        ws.load()

    inc, full, _ = both_ways(tmp_path, "".join(body), [correct])
    links = assert_same(inc, full)
    assert links["b5"] != links["a5"] and links["b6"] == links["a5"]


def test_a_block_growing_past_its_limit_runs_in_full(tmp_path):
    """max_block_size 3: a birth year held by two records takes one more incrementally; a
    fourth would drop the year's pairs of earlier records, which a full run recomputes."""
    _, body = people(10)
    root = people_workspace(tmp_path / "w", PEOPLE_HEAD + "".join(body))
    cfg = root / "onefold.yml"
    cfg.write_text(cfg.read_text() + "  max_block_size: 3\n")
    data = root / "data" / "crm.csv"
    with Workspace(root) as ws:
        ws.load()
        ws.resolve()
        data.write_text(data.read_text() + "x1,,,,,Ann Lex,1950-01-14,Boston\n")
        ws.load()
        result = ws.resolve(incremental=True)
        assert result.mode == "incremental", result.full_reason
        data.write_text(data.read_text() + "x2,,,,,Ann Lex,1950-01-15,Boston\n")
        ws.load()
        result = ws.resolve(incremental=True)
        assert result.mode == "full" and "max_block_size" in (result.full_reason or "")


def test_the_cli_retrains_on_request(tmp_path):
    _, body = people(10)
    root = people_workspace(tmp_path / "w", PEOPLE_HEAD + "".join(body))
    runner = CliRunner()

    def resolve(*args: str) -> str:
        done = runner.invoke(app, ["resolve", "-w", str(root), *args])
        assert done.exit_code == 0, done.output
        return done.output

    assert "--retrain" in resolve("--help")
    with Workspace(root) as ws:
        ws.load()
    assert "matching: trained" in resolve()
    assert "scored with the stored model" in resolve()
    out = resolve("--incremental", "--retrain")
    assert "retraining the match model was asked for" in out and "matching: trained" in out


#: The generated sample's person fields, matched as `benchmarks/identity_scale.py` does.
SAMPLE_MATCHING = """
matching:
  enabled: true
  comparisons:
    - {field: person_name, method: name, tf_adjust: true}
    - {field: birth_date, method: date}
    - {field: email, method: email}
    - {field: phone, method: phone}
  blocking:
    - [person_name, 'birth_date[:4]']
    - [person_name, 'phone[-4:]']
    - ['phone[-4:]', 'birth_date[:4]']
    - [email]
"""


def test_the_sample_resolved_incrementally_equals_a_full_rerun(tmp_path):
    """All nine sample sources, 60 % then the rest: hubs, limits, name conflicts and
    probabilistic links together, one incremental run against a full re-run."""
    root, later = sample_in_two_halves(tmp_path, persons=1200, fraction=0.6)
    cfg = root / "onefold.yml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + SAMPLE_MATCHING, encoding="utf-8")
    with Workspace(root) as ws:
        ws.load()
        ws.resolve()
    for path, text in later.items():
        path.write_text(text, encoding="utf-8")
    with Workspace(root) as ws:
        ws.load()
    shutil.copytree(root, tmp_path / "rerun")
    with Workspace(root) as ws:
        result = ws.resolve(incremental=True)
        assert result.mode == "incremental", result.full_reason
        assert result.matching is not None and result.matching.candidate_pairs > 1000
        assert result.region is not None and result.region.profiles < result.profiles
    with Workspace(tmp_path / "rerun") as ws:
        assert ws.resolve().mode == "full"
    with Workspace(root) as a, Workspace(tmp_path / "rerun") as b:
        assert record_links(a) == record_links(b)
        for table in PROFILE_TABLES:
            assert rows(a, table) == rows(b, table), table
        hubs = "SELECT id_type, value, shared_with_type FROM hub_values ORDER BY ALL"
        assert a.engine.fetchall(hubs) == b.engine.fetchall(hubs)
        assert scored_pairs(a) == scored_pairs(b)
        assert scored_pairs(a, "match_links") == scored_pairs(b, "match_links")


def test_the_region_closes_along_a_chain_of_links() -> None:
    """A new record links to P1, whose record links to P2's, whose record links to P3's, and
    on to P4: one piece, so all four are in the region; P5 links to nothing of it."""
    engine = DuckDBEngine(":memory:")
    engine.execute(
        "CREATE TABLE record_profiles AS SELECT * FROM (VALUES (1, 'P1'), (2, 'P2'), "
        "(3, 'P2'), (4, 'P3'), (5, 'P3'), (6, 'P4'), (7, 'P5')) t(rid, profile_id)"
    )
    engine.execute("CREATE TEMP TABLE _fresh AS SELECT 100 AS rid")
    engine.execute("CREATE TEMP TABLE _affected (profile_id VARCHAR)")
    engine.execute(
        "CREATE TEMP TABLE _strong AS SELECT * FROM (VALUES (100, 1), (1, 2), (3, 4), (5, 6)) "
        "t(a, b) UNION ALL SELECT * FROM (VALUES (1, 100), (2, 1), (4, 3), (6, 5)) t(a, b)"
    )
    widen_by_match_links(engine)
    affected = {str(r[0]) for r in engine.fetchall("SELECT profile_id FROM _affected")}
    assert affected == {"P1", "P2", "P3", "P4"}
