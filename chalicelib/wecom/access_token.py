"""Access tokens per (corp, app secret): cached in memory and in a store every Lambda shares, refreshed by one caller.

WeCom throttles `gettoken` and blocks an IP that calls it too often, so a token is fetched by a single caller at a time
across all concurrent Lambdas: the one that takes the store's refresh lock fetches; the others keep using the old token
while it is still valid, or wait briefly and re-read. Tokens are refreshed a margin before they expire.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from chalicelib.domain.access_token import AccessToken
from chalicelib.domain.credentials import AppCredentials
from chalicelib.wecom.errors import WeComUnavailable


def token_key(credentials: AppCredentials) -> str:
    """Where a token of these credentials is cached: a rotated secret gets a new key, so no stale token is reused."""
    fingerprint = hashlib.sha256(f"{credentials.corp_id}\n{credentials.secret}".encode()).hexdigest()[:16]
    return f"{credentials.corp_id}#{credentials.agent_id}#{fingerprint}"


class SharedTokenStore(Protocol):
    """Tokens and refresh locks shared by every process (DynamoDB in the stack; memory in unit tests)."""

    def load(self, key: str) -> AccessToken | None: ...

    def save(self, key: str, token: AccessToken) -> None: ...

    def discard(self, key: str, token: AccessToken) -> None:
        """Forget `token` if it is still the stored one (a newer token stays)."""

    def try_lock(self, key: str, owner: str, now: float, ttl_seconds: float) -> bool:
        """Take the refresh lock of `key` if it is free or expired."""

    def unlock(self, key: str, owner: str) -> None:
        """Release the lock if `owner` still holds it."""


class InMemoryTokenStore:
    """A `SharedTokenStore` for one process: unit tests, and scripts that run without AWS."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._mutex = threading.Lock()

    def load(self, key: str) -> AccessToken | None:
        return self._tokens.get(key)

    def save(self, key: str, token: AccessToken) -> None:
        with self._mutex:
            current = self._tokens.get(key)
            if current is None or current.expires_at < token.expires_at:
                self._tokens[key] = token

    def discard(self, key: str, token: AccessToken) -> None:
        with self._mutex:
            if self._tokens.get(key) == token:
                del self._tokens[key]

    def try_lock(self, key: str, owner: str, now: float, ttl_seconds: float) -> bool:
        with self._mutex:
            held = self._locks.get(key)
            if held is not None and held[1] > now:
                return False
            self._locks[key] = (owner, now + ttl_seconds)
            return True

    def unlock(self, key: str, owner: str) -> None:
        with self._mutex:
            if self._locks.get(key, ("", 0.0))[0] == owner:
                del self._locks[key]


TokenFetcher = Callable[[AppCredentials], AccessToken]


class AccessTokens:
    """The tokens of one process: a memory layer in front of a `SharedTokenStore`, with single-flight refresh."""

    def __init__(
        self,
        store: SharedTokenStore,
        *,
        refresh_margin_seconds: float = 300.0,
        lock_ttl_seconds: float = 10.0,
        poll_seconds: float = 0.05,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._margin = refresh_margin_seconds
        self._lock_ttl = lock_ttl_seconds
        self._poll = poll_seconds
        self._clock = clock
        self._sleep = sleep
        self._owner = uuid.uuid4().hex
        self._memory: dict[str, AccessToken] = {}
        self._guards: dict[str, threading.Lock] = {}
        self._guards_mutex = threading.Lock()

    def get(self, credentials: AppCredentials, fetch: TokenFetcher) -> AccessToken:
        """A token valid beyond the refresh margin if one can be had, else a still-valid one being replaced."""
        key = token_key(credentials)
        token = self._memory.get(key)
        if token is not None and token.fresh(self._clock(), self._margin):
            return token
        with self._guard(key):
            token = self._memory.get(key)
            if token is not None and token.fresh(self._clock(), self._margin):
                return token
            token = self._from_store_or_refresh(key, credentials, fetch)
            self._memory[key] = token
            return token

    def invalidate(self, credentials: AppCredentials, token: AccessToken) -> None:
        """WeCom rejected `token`: forget it here and in the store, unless it was already replaced."""
        key = token_key(credentials)
        with self._guard(key):
            if self._memory.get(key) == token:
                del self._memory[key]
        self._store.discard(key, token)

    def _from_store_or_refresh(self, key: str, credentials: AppCredentials, fetch: TokenFetcher) -> AccessToken:
        deadline = self._clock() + self._lock_ttl + self._poll
        while True:
            now = self._clock()
            shared = self._store.load(key)
            if shared is not None and shared.fresh(now, self._margin):
                return shared
            if self._store.try_lock(key, self._owner, now, self._lock_ttl):
                try:
                    return self._refresh(key, credentials, fetch)
                finally:
                    self._store.unlock(key, self._owner)
            if shared is not None and shared.usable(now):
                return shared
            if now >= deadline:
                raise WeComUnavailable("gettoken", "another caller's token refresh did not finish")
            self._sleep(self._poll)

    def _refresh(self, key: str, credentials: AppCredentials, fetch: TokenFetcher) -> AccessToken:
        shared = self._store.load(key)
        if shared is not None and shared.fresh(self._clock(), self._margin):
            return shared
        token = fetch(credentials)
        self._store.save(key, token)
        return token

    def _guard(self, key: str) -> threading.Lock:
        with self._guards_mutex:
            return self._guards.setdefault(key, threading.Lock())
