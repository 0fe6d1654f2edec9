"""Hostile and broken input to the tracking API: clear errors, nothing stored twice, no crash."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import threading
from typing import Any

import httpx

from live_server import Keys, LiveServer, poll
from onefold import Workspace


def post(server: LiveServer, path: str, content: bytes, key: str | None, **headers: str) -> Any:
    if key is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    return httpx.post(f"{server.url}{path}", content=content, headers=headers, timeout=30)


def track(i: int, **more: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Viewed",
        "anonymousId": f"a{i}",
        "messageId": f"m{i}",
        **more,
    }


def stored(server: LiveServer) -> dict[str, int]:
    """What the workspace holds once the server is stopped: landed messages and rejects."""
    server.stop()
    with Workspace(server.root) as ws:
        landed = ws.engine.fetchone("SELECT count(*) FROM landed_records")
        dupes = ws.engine.fetchone(
            "SELECT count(*) FROM (SELECT record_key FROM landed_records "
            "GROUP BY record_key HAVING count(*) > 1)"
        )
        rejects = ws.engine.fetchone("SELECT count(*) FROM rejects WHERE stage = 'collect'")
    return {"landed": landed, "duplicated_ids": dupes, "rejects": rejects}


def test_malformed_bodies_get_400_with_a_reason(live: tuple[LiveServer, Keys]) -> None:
    server, keys = live
    cases = {
        b"{not json": "invalid_json",
        b"[1, 2]": "invalid_json",
        b"\xff\xfe{}": "invalid_json",  # not UTF-8
        b'{"batch": {"type": "track"}}': "invalid_batch",
        b'{"batch": []}': "empty_batch",
        b"\x1f\x8b\x08garbage": "invalid_gzip",
    }
    for body, code in cases.items():
        r = post(server, "/v1/batch", body, keys.write)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["code"] == code and r.json()["message"]
    assert stored(server)["landed"] == 0


def test_keys_missing_wrong_revoked_or_of_the_wrong_kind(live: tuple[LiveServer, Keys]) -> None:
    server, keys = live
    body = json.dumps({"batch": [track(1)]}).encode()
    for key in (None, "wk_not-a-key", keys.read):
        r = post(server, "/v1/batch", body, key)
        assert r.status_code == 401 and r.json()["code"] == "unauthorized", (key, r.text)
    assert post(server, "/v1/batch", body, keys.write).status_code == 200
    # the write key cannot read profiles
    r = httpx.get(f"{server.url}/v1/profiles/user_id:u1", auth=(keys.write, ""))
    assert r.status_code == 401
    # revoked through the CLI while the server runs: refused within the key refresh interval
    cli = [sys.executable, "-m", "onefold.cli", "keys", "revoke", keys.write_id]
    done = subprocess.run(
        cli + ["-w", str(server.root)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and f"revoked write key {keys.write_id}" in done.stdout, done
    late = json.dumps({"batch": [track(2)]}).encode()
    refused = poll(lambda: post(server, "/v1/batch", late, keys.write).status_code == 401, 5)
    assert refused
    assert stored(server)["landed"] == 1


def test_size_limits_are_enforced_with_413(live: tuple[LiveServer, Keys]) -> None:
    server, keys = live
    big = {"batch": [track(i, properties={"pad": "x" * 400}) for i in range(1500)]}
    r = post(server, "/v1/batch", json.dumps(big).encode(), keys.write)
    assert r.status_code == 413 and "500" in r.json()["message"]
    bomb = gzip.compress(
        json.dumps({"batch": [track(1, properties={"p": "0" * 5_000_000})]}).encode()
    )
    r = post(server, "/v1/batch", bomb, keys.write, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413
    # one message over 32 KB: rejected alone, its batch-mates stored
    mixed = {"batch": [track(1), track(2, properties={"pad": "y" * 40_000}), track(3)]}
    r = post(server, "/v1/batch", json.dumps(mixed).encode(), keys.write)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 2
    assert [x["index"] for x in r.json()["rejected"]] == [1]
    assert "32,768" in r.json()["rejected"][0]["reason"]
    assert stored(server) == {"landed": 2, "duplicated_ids": 0, "rejects": 1}


def test_invalid_messages_are_kept_in_rejects_and_named(live: tuple[LiveServer, Keys]) -> None:
    server, keys = live
    batch = [
        track(1),
        {"type": "track", "event": "No one"},  # neither userId nor anonymousId
        {"type": "track", "anonymousId": "a"},  # no event name
        {"type": "alias", "userId": "u"},  # no previousId
        {"type": "launch", "userId": "u"},
        {"type": "identify", "userId": "u", "traits": "not an object"},
        {"type": "track", "event": "E", "userId": "u", "timestamp": "yesterday"},
        "a string",
    ]
    r = post(server, "/v1/batch", json.dumps({"batch": batch}).encode(), keys.write)
    assert r.status_code == 200
    fields = {x["index"]: x["field"] for x in r.json()["rejected"]}
    assert fields == {
        1: "userId",
        2: "event",
        3: "previousId",
        4: "type",
        5: "traits",
        6: "timestamp",
        7: "(message)",
    }
    only_bad = {"batch": batch[1:3]}
    r = post(server, "/v1/batch", json.dumps(only_bad).encode(), keys.write)
    assert r.status_code == 400 and r.json()["code"] == "invalid_messages"
    assert stored(server) == {"landed": 1, "duplicated_ids": 0, "rejects": 9}


def test_unicode_junk_and_deep_nesting_do_not_crash(live: tuple[LiveServer, Keys]) -> None:
    server, keys = live
    deep = '{"d":' * 5000 + '"bottom"' + "}" * 5000
    body = '{"batch": [{"type": "track", "event": "E", "anonymousId": "a", "p": ' + deep + "}]}"
    r = post(server, "/v1/batch", body.encode(), keys.write)
    assert r.status_code == 400 and r.json()["code"] == "invalid_json", r.text
    junk = "\u0000\u202e\ud83d\ude00 Zalgo: Z̴̡͓a̷l̸g̵o̶ \ufeff\uffff 张伟"
    nasty = track(1, userId=junk, properties={junk: junk, "lone": "\\ud800"})
    r = post(server, "/v1/batch", json.dumps({"batch": [nasty]}).encode(), keys.write)
    assert r.status_code == 200 and r.json()["stored"] == 1, r.text
    lone = b'{"batch": [{"type": "track", "event": "E", "anonymousId": "\\ud800x"}]}'
    r = post(server, "/v1/batch", lone, keys.write)
    assert r.status_code in (200, 400), r.text  # a lone surrogate: stored or refused, clearly
    assert server.health()["status"] == "ok"


def test_thousands_of_concurrent_retries_store_each_message_once(
    live: tuple[LiveServer, Keys],
) -> None:
    server, keys = live
    body = json.dumps({"batch": [track(i) for i in range(50)]}).encode()
    results: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def hammer() -> None:
        with httpx.Client(timeout=60, auth=(keys.write, "")) as client:
            for _ in range(100):
                r = client.post(f"{server.url}/v1/batch", content=body)
                got = r.json()
                with lock:
                    results.append((r.status_code, got.get("stored", 0), got.get("duplicates", 0)))

    threads = [threading.Thread(target=hammer) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 2000
    ok = [r for r in results if r[0] == 200]
    assert len(ok) + sum(1 for r in results if r[0] == 503) == 2000  # 503s are retried by SDKs
    assert sum(r[1] for r in ok) == 50  # each message stored by exactly one request
    assert all(r[1] + r[2] == 50 for r in ok)
    assert stored(server) == {"landed": 50, "duplicated_ids": 0, "rejects": 0}


def test_cors_preflight_and_headers_on_the_post(live: tuple[LiveServer, Keys]) -> None:
    server, keys = live
    origin = "http://shop.example"
    pre = httpx.options(
        f"{server.url}/v1/t",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] in ("*", origin)
    assert "POST" in pre.headers["access-control-allow-methods"]
    msg = {**track(1), "writeKey": keys.write}
    r = httpx.post(
        f"{server.url}/v1/t",
        content=json.dumps(msg),
        headers={"Origin": origin, "Content-Type": "text/plain"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] in ("*", origin)
    server.stop()
    with Workspace(server.root) as ws:
        payload = ws.engine.fetchone("SELECT payload FROM landed_records")
    assert keys.write not in payload  # the write key is not kept with the message
