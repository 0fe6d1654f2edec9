"""The real Python SDKs, unmodified, deliver the customer journey to `onefold serve`.

The scenario and the profile it must make are in `journey`; the JavaScript SDKs deliver the
same one in test_server_js_sdks.py.
"""

from __future__ import annotations

from typing import Any

import httpx

from journey import assert_one_profile, journey
from live_server import Keys, LiveServer


def test_segment_analytics_python_delivers_the_journey(live: tuple[LiveServer, Keys]) -> None:
    from segment.analytics import Client

    server, keys = live
    errors: list[Any] = []
    client = Client(
        write_key=keys.write,
        host=server.url,
        on_error=lambda e, batch: errors.append(e),
        max_retries=2,
        upload_interval=0.05,  # queued and sent as /v1/batch by its consumer thread
    )
    journey(client, "anon-py-1", "u-py-1")
    client.flush()
    assert errors == []
    assert server.health()["messages_committed"] == 6
    assert_one_profile(server, keys, "u-py-1", 6)


def test_rudder_sdk_python_delivers_the_journey(live: tuple[LiveServer, Keys]) -> None:
    from rudderstack.analytics import Client

    server, keys = live
    errors: list[Any] = []
    client = Client(
        write_key=keys.write,
        host=server.url,
        on_error=lambda e, batch: errors.append(e),
        max_retries=2,
        sync_mode=True,  # each call posted at once (a batch of one), gzip-compressed
        gzip=True,
    )
    journey(client, "anon-rs-1", "u-rs-1")
    client.flush()
    assert errors == []
    assert server.health()["messages_committed"] == 6
    assert_one_profile(server, keys, "u-rs-1", 6)


def test_a_retried_batch_is_stored_once(live: tuple[LiveServer, Keys]) -> None:
    server, keys = live
    batch = {
        "batch": [
            {"type": "track", "event": "Viewed", "anonymousId": "a1", "messageId": f"m-{i}"}
            for i in range(20)
        ]
    }
    first = httpx.post(f"{server.url}/v1/batch", json=batch, auth=(keys.write, ""))
    again = httpx.post(f"{server.url}/v1/batch", json=batch, auth=(keys.write, ""))
    assert first.json()["stored"] == 20 and first.json()["duplicates"] == 0
    assert again.status_code == 200
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 20
    assert server.health()["messages_committed"] == 20
