"""The sample generator: files parse, ground truth is complete, output is reproducible, the
packaged mappings fit the data, and the designed hard negatives and noise are really there."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import phonenumbers
import pytest

from onefold.config import SourceMapping, load_mapping
from onefold.sample import SampleSummary, generate, mapping_files
from onefold.sample.noise import JUNK_EMAILS, JUNK_PHONES
from onefold.sample.timefmt import RECYCLE_CUTOFF
from onefold.schema import BUILTIN_ID_NORMALISERS

PERSONS = 300
SEED = 7


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary]:
    out = tmp_path_factory.mktemp("sample")
    steps: list[int] = []
    summary = generate(out, PERSONS, seed=SEED, progress=steps.append)
    assert sum(steps) == PERSONS
    return out, summary


@pytest.fixture(scope="module")
def mappings() -> dict[str, SourceMapping]:
    return {
        name: load_mapping(path, id_types=set(BUILTIN_ID_NORMALISERS))
        for name, path in mapping_files().items()
    }


def _records(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            yield from csv.DictReader(f)
    else:
        with path.open("rb") as f:
            for line in f:
                yield orjson.loads(line)


def _get(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _ground_truth(out: Path) -> dict[tuple[str, str], str]:
    truth: dict[tuple[str, str], str] = {}
    with (out / "ground_truth.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        assert next(reader) == ["source", "record_key", "person_id"]
        for source, key, pid in reader:
            assert (source, key) not in truth, f"duplicate ground truth row {source} {key}"
            truth[(source, key)] = pid
    return truth


def _mapped_fields(m: SourceMapping) -> set[str]:
    fields = {m.record_key, *m.event_type_field}
    if m.event_time:
        fields.add(m.event_time.field)
    for specs in m.identifiers.values():
        fields.update(s.field for s in specs)
    fields.update(s.field for s in m.traits.values())
    fields.update(c.field for c in m.consent.values())
    if m.order:
        fields.add(m.order.amount)
        if m.order.currency:
            fields.add(m.order.currency)
    return fields


def test_files_exist_and_ground_truth_covers_every_record(
    sample: tuple[Path, SampleSummary], mappings: dict[str, SourceMapping]
) -> None:
    out, summary = sample
    assert set(summary.files) == set(mappings) and len(mappings) == 9
    truth = _ground_truth(out)
    seen: set[tuple[str, str]] = set()
    for name, m in mappings.items():
        assert summary.files[name] == out / m.path
        keys = [str(_get(r, m.record_key)) for r in _records(out / m.path)]
        assert len(keys) == summary.records[name] > 0
        assert len(set(keys)) == len(keys), f"{name}: record keys are not unique"
        seen.update((name, k) for k in keys)
        assert (out / "sources" / f"{name}.yml").read_bytes() == mapping_files()[name].read_bytes()
    assert seen == set(truth)
    assert set(truth.values()) <= {f"P{i:07d}" for i in range(1, PERSONS + 1)}
    assert 8 <= len(truth) / PERSONS <= 14


def test_every_mapped_field_exists_in_its_file(
    sample: tuple[Path, SampleSummary], mappings: dict[str, SourceMapping]
) -> None:
    out, _ = sample
    for name, m in mappings.items():
        missing = set(_mapped_fields(m))
        for record in _records(out / m.path):
            missing = {f for f in missing if _get(record, f) in (None, "")}
            if not missing:
                break
        assert not missing, f"{name}: mapped fields never filled: {sorted(missing)}"


def test_mapping_time_formats_match_the_data(
    sample: tuple[Path, SampleSummary], mappings: dict[str, SourceMapping]
) -> None:
    out, _ = sample
    for m in mappings.values():
        assert m.event_time is not None
        for record in list(_records(out / m.path))[:50]:
            value = str(_get(record, m.event_time.field))
            if m.event_time.formats:
                datetime.strptime(value, m.event_time.formats[0])
            else:
                datetime.fromisoformat(value)


def test_same_seed_same_bytes_other_seed_differs(
    sample: tuple[Path, SampleSummary], tmp_path: Path
) -> None:
    out, summary = sample
    again = generate(tmp_path / "again", PERSONS, seed=SEED)
    other = generate(tmp_path / "other", PERSONS, seed=SEED + 1)
    for name, path in summary.files.items():
        assert again.files[name].read_bytes() == path.read_bytes(), name
    assert again.ground_truth.read_bytes() == summary.ground_truth.read_bytes()
    assert other.files["crm_contacts"].read_bytes() != summary.files["crm_contacts"].read_bytes()
    assert other.ground_truth.read_bytes() != summary.ground_truth.read_bytes()


def test_hard_negatives_are_present(sample: tuple[Path, SampleSummary]) -> None:
    out, _ = sample
    truth = _ground_truth(out)
    junk = {e.lower() for e in JUNK_EMAILS}
    emails: dict[str, set[str]] = defaultdict(set)
    for source, file, key, field in (
        ("crm_contacts", "crm_contacts.csv", "Contact ID", "Email"),
        ("shop_orders", "shop_orders.jsonl", "order_id", "buyer.email"),
        ("email_engagement", "email_engagement.csv", "event_id", "email"),
    ):
        for r in _records(out / "data" / file):
            email = (_get(r, field) or "").strip().lower()
            if email and email not in junk:
                emails[email].add(truth[(source, str(_get(r, key)))])
    assert any(len(pids) >= 2 for pids in emails.values()), "no shared family email"

    devices: dict[str, set[str]] = defaultdict(set)
    for r in _records(out / "data" / "app_events.jsonl"):
        devices[r["context"]["device"]["id"].lower()].add(truth[("app_events", r["messageId"])])
    assert sum(len(p) >= 20 for p in devices.values()) >= 2, "no store demo tablets"

    # recycled numbers: one person before the cutoff, another one only after it
    uses: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for r in _records(out / "data" / "pos_receipts.csv"):
        if not r["phone"] or "*" in r["phone"]:
            continue
        try:
            number = phonenumbers.parse(r["phone"], "CN")
        except phonenumbers.NumberParseException:
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        t = int(datetime.strptime(r["ts"], "%Y/%m/%d %H:%M").replace(tzinfo=UTC).timestamp())
        uses[e164][truth[("pos_receipts", r["receipt_no"])]].append(t)
    recycled = [
        e164
        for e164, by_person in uses.items()
        if len(by_person) == 2
        and min(max(ts) for ts in by_person.values()) < RECYCLE_CUTOFF
        and max(min(ts) for ts in by_person.values()) > RECYCLE_CUTOFF
    ]
    assert recycled, "no recycled phone number"


def test_noise_junk_and_masked_phones(sample: tuple[Path, SampleSummary]) -> None:
    out, _ = sample
    crm = list(_records(out / "data" / "crm_contacts.csv"))
    pos = list(_records(out / "data" / "pos_receipts.csv"))
    junk = set(JUNK_EMAILS) | set(JUNK_PHONES)
    values = [r["Email"] for r in crm] + [r["Mobile"] for r in crm] + [r["phone"] for r in pos]
    assert any(v in junk for v in values), "no junk values"
    masked = re.compile(r"^(\d{3}\*{4}\d{4}|\*{3}-\*{3}-\d{4})$")
    assert any(masked.match(r["phone"]) for r in pos), "no masked phones"
    assert any(r["Email"] != r["Email"].strip() or r["Email"] != r["Email"].lower() for r in crm), (
        "no email case/whitespace variants"
    )
    assert any(r["loyalty_card"] == "" for r in pos) and any(r["phone"] == "" for r in pos)
    han = re.compile(r"[\u4e00-\u9fff]")
    assert any(han.search(r["Last Name"]) for r in crm), "no Chinese-character names"
