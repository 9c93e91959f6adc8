"""Access-token caching on the in-memory store and a fake clock: margin, single flight, old token while refreshing."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chalicelib.domain.access_token import AccessToken
from chalicelib.domain.credentials import AppCredentials
from chalicelib.wecom.access_token import AccessTokens, InMemoryTokenStore, token_key
from chalicelib.wecom.errors import WeComUnavailable

CREDENTIALS = AppCredentials(corp_id="ww-corp", agent_id=1000002, secret="the-secret")


@dataclass
class FakeClock:
    now: float = 1_000_000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Fetcher:
    clock: FakeClock
    lifetime: float = 7200.0
    calls: int = 0

    def __call__(self, credentials: AppCredentials) -> AccessToken:
        self.calls += 1
        return AccessToken(f"T{self.calls}", issued_at=self.clock.now, expires_at=self.clock.now + self.lifetime)


def tokens(store: InMemoryTokenStore, clock: FakeClock) -> AccessTokens:
    return AccessTokens(store, refresh_margin_seconds=300, lock_ttl_seconds=10, clock=clock, sleep=clock.sleep)


def test_a_token_is_reused_until_the_refresh_margin_then_refreshed_early():
    clock = FakeClock()
    fetch = Fetcher(clock)
    cache = tokens(InMemoryTokenStore(), clock)
    assert cache.get(CREDENTIALS, fetch).value == "T1"
    clock.now += 7200 - 301
    assert cache.get(CREDENTIALS, fetch).value == "T1"
    clock.now += 2
    assert cache.get(CREDENTIALS, fetch).value == "T2"
    assert fetch.calls == 2


def test_short_lived_tokens_use_a_quarter_of_their_lifetime_as_margin():
    clock = FakeClock()
    fetch = Fetcher(clock, lifetime=60)
    cache = tokens(InMemoryTokenStore(), clock)
    cache.get(CREDENTIALS, fetch)
    clock.now += 44
    assert cache.get(CREDENTIALS, fetch).value == "T1"
    clock.now += 2
    assert cache.get(CREDENTIALS, fetch).value == "T2"


def test_a_second_process_reads_the_shared_token_instead_of_fetching():
    clock = FakeClock()
    fetch = Fetcher(clock)
    store = InMemoryTokenStore()
    assert tokens(store, clock).get(CREDENTIALS, fetch).value == "T1"
    assert tokens(store, clock).get(CREDENTIALS, fetch).value == "T1"
    assert fetch.calls == 1


def test_while_another_process_refreshes_the_old_still_valid_token_is_used():
    clock = FakeClock()
    fetch = Fetcher(clock)
    store = InMemoryTokenStore()
    tokens(store, clock).get(CREDENTIALS, fetch)
    clock.now += 7200 - 100
    assert store.try_lock(token_key(CREDENTIALS), "other-process", clock.now, 10)
    assert tokens(store, clock).get(CREDENTIALS, fetch).value == "T1"
    assert fetch.calls == 1
    assert clock.sleeps == []


def test_without_a_usable_token_a_caller_waits_for_the_refresher_then_takes_over_its_expired_lock():
    clock = FakeClock()
    fetch = Fetcher(clock)
    store = InMemoryTokenStore()
    assert store.try_lock(token_key(CREDENTIALS), "crashed-process", clock.now, 10)
    assert tokens(store, clock).get(CREDENTIALS, fetch).value == "T1"
    assert fetch.calls == 1
    assert 9.9 <= sum(clock.sleeps) < 10.2


def test_a_lock_that_is_never_released_nor_expires_ends_in_unavailable():
    class StuckLockStore(InMemoryTokenStore):
        def try_lock(self, key: str, owner: str, now: float, ttl_seconds: float) -> bool:
            return False

    clock = FakeClock()
    with pytest.raises(WeComUnavailable):
        tokens(StuckLockStore(), clock).get(CREDENTIALS, Fetcher(clock))


def test_invalidate_forgets_the_rejected_token_but_not_a_newer_one():
    clock = FakeClock()
    fetch = Fetcher(clock)
    store = InMemoryTokenStore()
    first, second = tokens(store, clock), tokens(store, clock)
    rejected = first.get(CREDENTIALS, fetch)
    second.invalidate(CREDENTIALS, rejected)
    renewed = second.get(CREDENTIALS, fetch)
    assert renewed.value == "T2"
    first.invalidate(CREDENTIALS, rejected)
    assert store.load(token_key(CREDENTIALS)) == renewed
    assert first.get(CREDENTIALS, fetch).value == "T2"
    assert fetch.calls == 2


def test_a_rotated_secret_has_its_own_cache_key_and_reprs_hide_values():
    rotated = AppCredentials(corp_id="ww-corp", agent_id=1000002, secret="another-secret")
    assert token_key(CREDENTIALS) != token_key(rotated)
    assert "the-secret" not in token_key(CREDENTIALS)
    assert "T-value" not in repr(AccessToken("T-value", 0, 1))
