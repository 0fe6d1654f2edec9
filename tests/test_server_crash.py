"""Durable before acknowledged: SIGKILL the server under load, restart it, count."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from live_server import Keys, LiveServer
from onefold import Workspace


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited orphan that no init has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_sigkill_during_load_loses_no_acknowledged_event_and_stores_none_twice(
    live: tuple[LiveServer, Keys],
) -> None:
    server, keys = live
    acked: set[str] = set()
    unsure: list[list[dict[str, str]]] = []  # sent, but no answer: the client must retry
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(timeout=10, auth=(keys.write, "")) as http:
            for b in range(10_000):
                if stop.is_set():
                    return
                batch = [
                    {
                        "type": "track",
                        "event": "Load",
                        "anonymousId": f"c{n}",
                        "messageId": f"c{n}-b{b}-m{i}",
                    }
                    for i in range(50)
                ]
                try:
                    r = http.post(f"{server.url}/v1/batch", json={"batch": batch})
                except httpx.HTTPError:
                    with lock:
                        unsure.append(batch)
                    return  # the server is gone
                with lock:
                    if r.status_code == 200:
                        acked.update(m["messageId"] for m in batch)
                    else:
                        unsure.append(batch)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 5_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    children = server.children()
    assert children, "the server runs its checking worker"
    server.kill()  # SIGKILL: no shutdown, no flush
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) >= 5_000, "the load did not get going"
    gone = time.monotonic() + 10  # the worker notices its server is gone, and exits
    while any(map(running, children)) and time.monotonic() < gone:
        time.sleep(0.1)
    assert not [c for c in children if running(c)], "orphaned children"

    with Workspace(server.root) as ws:  # what survived the kill
        ids = [r[0] for r in ws.engine.fetchall("SELECT record_key FROM landed_records")]
    assert len(ids) == len(set(ids)), "a message stored twice"
    assert acked <= set(ids), f"{len(acked - set(ids))} acknowledged messages lost"

    server.start()  # the clients retry what had no answer: nothing is stored twice
    with httpx.Client(timeout=10, auth=(keys.write, "")) as http:
        for batch in unsure:
            r = http.post(f"{server.url}/v1/batch", json={"batch": batch})
            assert r.status_code == 200
            acked.update(m["messageId"] for m in batch)
    server.wait_resolved()
    server.stop()
    with Workspace(server.root) as ws:
        ids = [r[0] for r in ws.engine.fetchall("SELECT record_key FROM landed_records")]
        profiles = ws.engine.fetchone("SELECT count(*) FROM profiles")
    assert len(ids) == len(set(ids)) and set(ids) == acked
    assert profiles == 4  # one per anonymous client, resolved after the restart
