"""API keys: write keys per HTTP source, read keys for the Profile API.

A key is 32 random bytes shown once, when created; the workspace keeps only its SHA-256
digest. Random keys need no slow password hash — there is nothing to guess from a digest of
256 random bits — and a stolen database yields no usable key. A presented key is hashed and
compared with `hmac.compare_digest` against every active digest of its kind, so the time
taken says nothing about how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from onefold.engine.base import Engine
from onefold.errors import NotFoundError

log = logging.getLogger("onefold.collect")

#: With a refresh thread, keys older than this are not trusted: a revocation could be missed.
MAX_STALE_SECONDS = 30.0


class KeysUnavailable(Exception):
    """The active keys could not be re-read for a while: refuse (503) rather than trust a
    list from which a revoked key may not have gone."""


KeyKind = Literal["write", "read"]
PREFIX: dict[KeyKind, str] = {"write": "wk_", "read": "rk_"}


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    kind: KeyKind
    source: str | None
    created_at: datetime
    revoked_at: datetime | None
    note: str | None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()


def create_key(
    engine: Engine, kind: KeyKind, source: str | None = None, note: str | None = None
) -> tuple[ApiKey, str]:
    """A new key; returns its record and the secret, which is never stored."""
    secret = PREFIX[kind] + secrets.token_urlsafe(32)
    key_id = "key_" + secrets.token_hex(6)
    now = datetime.now(UTC)
    engine.execute(
        "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL, ?)",
        [key_id, kind, source, digest(secret), now, note],
    )
    return ApiKey(key_id, kind, source, now, None, note), secret


def list_keys(engine: Engine) -> list[ApiKey]:
    rows = engine.fetchall(
        "SELECT key_id, kind, source, created_at, revoked_at, note FROM api_keys ORDER BY 4"
    )
    return [ApiKey(str(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


def revoke_key(engine: Engine, key_id: str) -> ApiKey:
    keys = {k.key_id: k for k in list_keys(engine)}
    if key_id not in keys:
        raise NotFoundError(f"no key {key_id!r}; `onefold keys list` shows them")
    engine.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
        [datetime.now(UTC), key_id],
    )
    return keys[key_id]


@dataclass(frozen=True)
class _Active:
    digest: bytes
    key_id: str
    kind: KeyKind
    source: str | None


class KeyRing:
    """The active keys, re-read from the store at most every `refresh_seconds`.

    The server checks a key per request; reading the table each time would cost a query, and
    a revocation made through the CLI reaches the server within the refresh interval. Once
    `start`ed, a thread of its own re-reads them: a query in the request path, once a second,
    waited behind the database's checkpoints and the resolver, and held up every request of
    that moment (the track p99 at 500 requests/s is five requests a second).
    """

    def __init__(self, engine: Engine, refresh_seconds: float = 1.0) -> None:
        self._engine = engine
        self._refresh = refresh_seconds
        self._loaded_at = float("-inf")
        self._active: tuple[_Active, ...] = ()
        self._lock = threading.Lock()  # one connection, asked from any request thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Load now, then refresh in the background."""
        self.reload()
        self._thread = threading.Thread(target=self._refresh_loop, name="onefold-keys", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._refresh):
            try:
                self.reload()
            except Exception:  # keep the keys known so far; the next round tries again
                log.exception("reloading the API keys failed")

    def reload(self) -> None:
        with self._lock:  # reads and their results in order: an older list never wins
            rows = self._engine.fetchall(
                "SELECT key_hash, key_id, kind, source FROM api_keys WHERE revoked_at IS NULL"
            )
            self._active = tuple(_Active(bytes.fromhex(r[0]), r[1], r[2], r[3]) for r in rows)
            self._loaded_at = time.monotonic()

    @property
    def age(self) -> float:
        """Seconds since the keys were last read."""
        return time.monotonic() - self._loaded_at

    def verify(self, presented: str, kind: KeyKind) -> _Active | None:
        """The active key of `kind` matching `presented`, checked in constant time."""
        if self._thread is None and self.age > self._refresh:
            self.reload()
        elif self._thread is not None and self.age > MAX_STALE_SECONDS:
            raise KeysUnavailable(f"the API keys could not be re-read for {self.age:.0f} s")
        wanted = bytes.fromhex(digest(presented))
        found = None
        for key in self._active:  # no early exit: every candidate is compared
            if hmac.compare_digest(key.digest, wanted) and key.kind == kind:
                found = key
        return found
