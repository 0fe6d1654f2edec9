"""The CLI keeps working while `onefold serve` holds the workspace: commands are forwarded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from live_server import Keys, LiveServer
from onefold.server.forward import SERVER_FILE, running_server


def cli(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onefold.cli", *args, "-w", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_commands_run_in_the_server_while_it_collects(
    live: tuple[LiveServer, Keys], tmp_path: Path
) -> None:
    server, keys = live
    (server.root / "data").mkdir()
    (server.root / "data" / "crm.csv").write_text(
        "id,email,name\nc1,ann.lee@shopmail.com,Ann Lee\n", encoding="utf-8"
    )
    (server.root / "sources" / "crm.yml").write_text(
        "name: crm\npath: data/crm.csv\nformat: csv\nchannel: offline\nrecord_key: id\n"
        "identifiers: {email: email}\ntraits: {full_name: name}\n",
        encoding="utf-8",
    )
    msg = {
        "type": "identify",
        "userId": "u-1",
        "anonymousId": "a-1",
        "traits": {"email": "Ann.Lee@ShopMail.com"},
    }
    assert httpx.post(f"{server.url}/v1/identify", json=msg, auth=(keys.write, "")).is_success

    loaded = cli("load", "crm", root=server.root)  # a file load beside the HTTP collector
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "crm" in loaded.stdout
    resolved = cli("resolve", root=server.root)
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    found = cli("profiles", "search", "ann.lee@shopmail.com", root=server.root)
    assert found.returncode == 0 and "Ann Lee" in found.stdout, found.stdout
    body = httpx.get(
        f"{server.url}/v1/profiles/email:ann.lee@shopmail.com", auth=(keys.read, "")
    ).json()
    assert set(body["profile"]["sources"]) == {"crm", "web"}
    explained = cli("explain", body["profile_id"], root=server.root)
    assert explained.returncode == 0 and "ann.lee@shopmail.com" in explained.stdout
    # errors come back as the CLI's own: one line, exit 1
    missing = cli("profiles", "show", "p_nope", root=server.root)
    assert missing.returncode == 1 and "no profile 'p_nope'" in missing.stdout
    # a second server on the same workspace is refused, and says why
    second = cli("serve", "--port", "1", root=server.root)
    assert second.returncode == 1 and "cannot open" in second.stdout + second.stderr


def test_a_killed_servers_file_is_ignored(live: tuple[LiveServer, Keys]) -> None:
    server, _ = live
    assert running_server(server.root) is not None
    server.kill()
    assert (server.root / SERVER_FILE).exists()  # SIGKILL left it behind
    assert running_server(server.root) is None  # but its pid is gone
    done = cli("sources", root=server.root)  # so the CLI opens the workspace itself
    assert done.returncode == 0 and "web" in done.stdout
