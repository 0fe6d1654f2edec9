"""Mapping and config mistakes name the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from onefold import ConfigError, Workspace, WorkspaceError
from onefold.config import load_mapping
from onefold.config.mappings import FieldSpec


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_and_wrong_keys_are_all_named(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yml", "name: Bad Name\nformat: xml\nchannel: online\n")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    text = str(err.value)
    assert str(path) in text
    for key in ("name", "format", "record_key"):
        assert f"  {key}:" in text
    assert "'csv'" in text  # says what was expected


def test_file_sources_need_a_path_collected_ones_do_not(tmp_path: Path) -> None:
    head = "name: s\nchannel: online\nrecord_key: id\n"
    with pytest.raises(ConfigError, match="path: required for a csv source"):
        load_mapping(write(tmp_path / "s.yml", head + "format: csv\n"))
    collected = load_mapping(write(tmp_path / "h.yml", head + "format: segment\n"))
    assert collected.collected and collected.files(tmp_path) == []


def test_unknown_identifier_type_lists_known_types(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yml",
        "name: s\npath: x.csv\nformat: csv\nchannel: online\n"
        "record_key: id\nidentifiers: {emial: e}\n",
    )
    with pytest.raises(ConfigError, match=r"identifiers.emial: unknown identifier type.*email"):
        load_mapping(path, {"email", "phone"})


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yml", "name: s\npath: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+"):
        load_mapping(path)


def test_bad_field_path_and_frequency(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yml",
        "name: s\npath: x.csv\nformat: csv\nchannel: online\n"
        "record_key: id\nupdate_frequency: sometimes\ntraits: {city: 'a..b'}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert "update_frequency" in str(err.value)
    assert "traits.city.field" in str(err.value)


def test_field_paths_become_json_paths() -> None:
    assert FieldSpec(field="buyer.email").json_path() == '$."buyer"."email"'
    assert FieldSpec(field="Contact ID").json_path() == '$."Contact ID"'
    assert FieldSpec(field="items[0].sku").json_path() == '$."items"[0]."sku"'


def test_all_broken_mappings_reported_together(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    write(ws.root / "sources" / "a.yml", "name: a\n")
    write(ws.root / "sources" / "b.yml", "name: b\n")
    with pytest.raises(ConfigError) as err:
        ws.mappings  # noqa: B018
    assert "a.yml" in str(err.value) and "b.yml" in str(err.value)
    ws.close()


def test_unknown_source_suggests_the_close_one(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    write(
        ws.root / "sources" / "crm.yml",
        "name: crm\npath: x.csv\nformat: csv\nchannel: offline\nrecord_key: id\n",
    )
    with pytest.raises(ConfigError, match="Did you mean 'crm'"):
        ws.load(["crn"])
    with pytest.raises(ConfigError, match="no file matches"):
        ws.load(["crm"])
    ws.close()


def test_bad_project_config(tmp_path: Path) -> None:
    ws_root = tmp_path / "ws"
    Workspace.init(ws_root).close()
    write(ws_root / "onefold.yml", "identity: {hub_limits: {emial: 2}}\n")
    with pytest.raises(ConfigError, match="unknown identifier type 'emial'"):
        Workspace(ws_root)


def test_not_a_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="onefold init"):
        Workspace(tmp_path)
