"""Shared fixtures: real workspaces on disk (real DuckDB files), small hand-made sources."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from live_server import Keys, LiveServer, free_port, prepare_workspace
from onefold import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path / "ws", "test")
    (ws.root / "data").mkdir()
    yield ws
    ws.close()


@pytest.fixture
def add_source(workspace: Workspace) -> Callable[[str, str, str, str], Path]:
    """Write a data file and its mapping into the workspace; returns the data file path."""

    def add(name: str, mapping_yaml: str, filename: str, content: str) -> Path:
        (workspace.root / "sources" / f"{name}.yml").write_text(mapping_yaml, encoding="utf-8")
        path = workspace.root / "data" / filename
        path.write_text(content, encoding="utf-8")
        return path

    return add


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, Keys]]:
    """A running `onefold serve` over a workspace with the HTTP source `web`."""
    root = tmp_path / "served"
    keys = prepare_workspace(root)
    server = LiveServer(root, free_port(), tmp_path / "server.log").start()
    yield server, keys
    server.stop()
