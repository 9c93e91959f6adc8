"""ReplayCache: a key is accepted once until it expires, given back on failure, and the cache stays bounded."""

from __future__ import annotations

import threading

import pytest

from chalicelib.domain.replay_cache import ReplayCache


def test_a_key_is_claimed_once_until_it_expires():
    cache = ReplayCache(max_entries=10)
    assert cache.claim(("t", "sig"), expires_at=100.0, now=0.0)
    assert not cache.claim(("t", "sig"), expires_at=100.0, now=99.9)
    assert cache.claim(("other", "sig"), expires_at=100.0, now=50.0)
    assert cache.claim(("t", "sig"), expires_at=300.0, now=100.0)


def test_a_released_key_is_accepted_again():
    cache = ReplayCache(max_entries=10)
    assert cache.claim("k", 100.0, 0.0)
    cache.release("k")
    assert cache.claim("k", 100.0, 1.0)


def test_the_cache_keeps_within_its_bound_dropping_expired_keys_first():
    cache = ReplayCache(max_entries=3)
    cache.claim("live", 1000.0, 0.0)
    cache.claim("stale-1", 10.0, 0.0)
    cache.claim("stale-2", 10.0, 0.0)
    assert cache.claim("new", 1000.0, 20.0)
    assert len(cache) == 2
    assert not cache.claim("live", 1000.0, 21.0)
    for n in range(50):
        cache.claim(n, 1000.0, 30.0)
    assert len(cache) == 3


def test_concurrent_claims_of_one_key_have_one_winner():
    cache = ReplayCache(max_entries=100)
    start = threading.Barrier(8)
    wins: list[bool] = []

    def claim() -> None:
        start.wait(5)
        wins.append(cache.claim("k", 100.0, 0.0))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(wins) == [False] * 7 + [True]


def test_the_bound_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        ReplayCache(0)
