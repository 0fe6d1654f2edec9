"""The real JavaScript SDKs, unmodified, deliver the customer journey to `onefold serve`.

- `@segment/analytics-node` runs tests/js/node_journey.mjs under `node`: one `/v1/batch`
  POST of the six calls (JSON, write key as Basic user and `writeKey` in the body).
- analytics.js (`@segment/analytics-next`) runs in a real headless Chromium, bundled by esbuild
  from tests/js/browser_journey.js into a page served from another port of 127.0.0.1, so the
  browser does real CORS against the server: one POST per call to `/v1/p`, `/v1/t`, `/v1/i`,
  `/v1/a` as `text/plain` with `writeKey` in the body (or, batching, one POST to `/v1/b`), and
  since it also sends `Authorization: Basic`, a preflight before the first POST to each path.

Then the Profile API must return the same one profile as for the Python SDKs (`journey`).
What these tests need is installed by `make test` (`npm ci --prefix tests/js`) and `.ci/run`
(node, npm and Debian's chromium); when something is missing they fail saying what to install.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from journey import EMAIL_RAW, JOURNEY_EVENTS, PHONE_RAW, assert_one_profile
from live_server import Keys, LiveServer
from onefold import Workspace

JS_DIR = Path(__file__).parent / "js"
#: Chromium must not reach for the internet (it is unreachable: it would retry slowly)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_S = 30


def _require(tool: str, install: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"`{tool}` is not installed: {install}", pytrace=False)
    return path


def _node() -> str:
    node = _require("node", "apt-get install -y nodejs npm")
    if not (JS_DIR / "node_modules" / "@segment").is_dir():
        pytest.fail(
            f"the npm packages of {JS_DIR} are not installed: run `npm ci --prefix tests/js` "
            "(`make test` does)",
            pytrace=False,
        )
    return node


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def _journey_config(user: str, anon: str) -> dict[str, str]:
    return {"anonymousId": anon, "userId": user, "email": EMAIL_RAW, "phone": PHONE_RAW}


# --- analytics-node -----------------------------------------------------------------------


def test_analytics_node_delivers_the_journey(live: tuple[LiveServer, Keys]) -> None:
    server, keys = live
    node = _node()
    config = {"host": server.url, "writeKey": keys.write, **_journey_config("u-node-1", "anon-n1")}
    run = subprocess.run(
        [node, str(JS_DIR / "node_journey.mjs"), json.dumps(config)],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert run.returncode == 0, f"analytics-node failed:\n{run.stderr}\n{run.stdout}"
    exchanges = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    requests = [e["request"] for e in exchanges if "request" in e]
    responses = [e["response"] for e in exchanges if "response" in e]
    # closeAndFlush() sent the six calls as one batch, acknowledged once
    assert [(r["method"], r["url"]) for r in requests] == [("POST", server.url + "/v1/batch")]
    sent = requests[0]
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["Authorization"] == _basic(keys.write)
    assert sent["body"]["writeKey"] == keys.write
    assert [m["type"] for m in sent["body"]["batch"]] == [
        "page",
        "page",
        "track",
        "identify",
        "alias",
        "track",
    ]
    assert [r["status"] for r in responses] == [200]
    assert server.health()["messages_committed"] == JOURNEY_EVENTS
    assert_one_profile(server, keys, "u-node-1", JOURNEY_EVENTS)


# --- analytics.js in Chromium ----------------------------------------------------------------


@pytest.fixture(scope="session")
def journey_bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """tests/js/browser_journey.js and analytics-next, bundled by esbuild into one IIFE."""
    _node()
    esbuild = JS_DIR / "node_modules" / ".bin" / "esbuild"
    out = tmp_path_factory.mktemp("bundle") / "journey.js"
    build = subprocess.run(
        [
            str(esbuild),
            "browser_journey.js",
            "--bundle",
            "--format=iife",
            "--platform=browser",
            "--target=es2020",
            "--log-level=warning",
            f"--outfile={out}",
        ],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert build.returncode == 0, f"esbuild failed:\n{build.stderr}"
    return out.read_bytes()


class _PageServer:
    """The shop's page and its script, from 127.0.0.1 on a port of its own (another origin)."""

    def __init__(self, html: str, script: bytes) -> None:
        files = {"/": ("text/html", html.encode()), "/journey.js": ("text/javascript", script)}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                kind, body = files.get(urlsplit(self.path).path, ("text/plain", b""))
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Any]:
    """A persistent context of Debian's headless Chromium with a fresh profile directory."""
    executable = _require("chromium", "apt-get install -y chromium (Debian's package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Python Playwright is missing: pip install -e '.[dev]'", pytrace=False)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            timeout=TIMEOUT_S * 1000,
        )
        context.set_default_timeout(TIMEOUT_S * 1000)
        try:
            yield context
        finally:
            context.close()


#: analytics.js's delivery strategies: one POST per call (the default), or batches to /v1/b
STRATEGIES = {
    "standard": (None, ["p", "p", "t", "i", "a", "t"]),
    # a batch of six: sent as soon as the sixth call is buffered
    "batching": ({"strategy": "batching", "config": {"size": 6, "timeout": 5000}}, ["b"]),
}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_analytics_js_delivers_the_journey_from_a_browser(
    live: tuple[LiveServer, Keys], journey_bundle: bytes, chromium: Any, strategy: str
) -> None:
    server, keys = live
    delivery, paths = STRATEGIES[strategy]
    api = urlsplit(server.url)
    config = {
        "writeKey": keys.write,
        "apiHost": f"{api.netloc}/v1",  # analytics.js: no scheme, the version path included
        "deliveryStrategy": delivery,
        **_journey_config("u-js-1", "anon-js-1"),
    }
    html = (
        '<!doctype html><meta charset="utf-8"><title>Shoe shop</title>'
        '<link rel="icon" href="data:,">'
        f"<script>window.__JOURNEY = {json.dumps(config)}</script>"
        '<script src="/journey.js"></script>'
    )
    shop = _PageServer(html, journey_bundle)
    page = chromium.new_page()
    posts: list[Any] = []
    responses: list[Any] = []
    failed: list[str] = []
    elsewhere: list[str] = []
    preflights: list[tuple[str, int, dict[str, str]]] = []

    def on_request(request: Any) -> None:
        if request.url.startswith(server.url):
            posts.append(request)
        elif not request.url.startswith((shop.url, "data:")):
            elsewhere.append(request.url)

    def on_cdp_response(event: dict[str, Any]) -> None:
        if event.get("type") == "Preflight":
            r = event["response"]
            preflights.append((urlsplit(r["url"]).path, r["status"], r["headers"]))

    page.on("request", on_request)
    page.on("response", lambda r: r.url.startswith(server.url) and responses.append(r))
    page.on("requestfailed", lambda r: failed.append(f"{r.method} {r.url}: {r.failure}"))
    # CORS preflights are no Playwright requests; the DevTools protocol reports them
    cdp = chromium.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on("Network.responseReceived", on_cdp_response)
    try:
        page.goto(shop.url, timeout=TIMEOUT_S * 1000)
        page.wait_for_function("window.__done || window.__failed", timeout=TIMEOUT_S * 1000)
        assert page.evaluate("window.__failed || null") is None
        done = page.evaluate("window.__done")
        # the calls resolve once delivered (standard) or buffered (batching): wait for the acks
        for _ in range(TIMEOUT_S * 10):
            if len(responses) >= len(paths) or failed:
                break
            page.wait_for_timeout(100)
        acks = [(r.url, r.status, r.json()) for r in responses]
    finally:
        page.close()
        shop.close()

    assert done["errors"] == [], done
    assert [c for c in done["calls"] if c["failed"]] == [], done
    assert done["anonymousId"] == "anon-js-1"
    assert failed == [] and elsewhere == []
    v1 = server.url + "/v1/"
    assert [(p.method, p.url.removeprefix(v1)) for p in posts] == [("POST", x) for x in paths]
    sent = []
    for post in posts:
        assert post.headers["content-type"] == "text/plain"  # a "simple" CORS content type
        assert post.headers.get("authorization") in (_basic(keys.write), None)
        body = json.loads(post.post_data)
        assert body["writeKey"] == keys.write
        sent.extend(body["batch"] if "batch" in body else [body])
    assert [m["type"] for m in sent] == ["page", "page", "track", "identify", "alias", "track"]
    assert {m["anonymousId"] for m in sent} == {"anon-js-1"}
    assert [(url.removeprefix(v1), status) for url, status, _ in acks] == [(x, 200) for x in paths]
    assert sum(body["stored"] for _, _, body in acks) == JOURNEY_EVENTS, acks
    # the Authorization header costs a preflight (cached per URL); each was answered
    if any("authorization" in p.headers for p in posts):
        assert {path for path, _, _ in preflights} == {"/v1/" + x for x in paths}
    for path, status, headers in preflights:
        assert path in {"/v1/" + x for x in paths} and status == 200, (path, status, headers)
        assert headers.get("access-control-allow-origin") == "*"
    assert server.health()["messages_committed"] == JOURNEY_EVENTS
    assert_one_profile(server, keys, "u-js-1", JOURNEY_EVENTS)
    server.stop()
    with Workspace(server.root) as ws:  # the write key in every message is not kept
        held = ws.engine.fetchone(
            "SELECT count(*) FROM landed_records WHERE contains(payload, ?)", [keys.write]
        )
    assert held == 0
