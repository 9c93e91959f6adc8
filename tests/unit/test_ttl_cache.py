"""TtlCache: one load per key at a time however many callers ask together; values live their TTL; forget drops."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.domain.ttl_cache import TtlCache


def test_callers_asking_together_share_one_load():
    cache: TtlCache[str, int] = TtlCache()
    loads = 0
    release = threading.Event()
    started = threading.Event()

    def load() -> tuple[int, float]:
        nonlocal loads
        loads += 1
        started.set()
        release.wait(5)
        return 42, 60.0

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(cache.get, "k", load)
        assert started.wait(5)
        others = [pool.submit(cache.get, "k", load) for _ in range(7)]
        release.set()
        answers = [first.result(5), *(f.result(5) for f in others)]
    assert answers == [42] * 8
    assert loads == 1


def test_a_value_lives_its_ttl_and_forget_drops_it():
    now = [100.0]
    cache: TtlCache[str, str] = TtlCache(clock=lambda: now[0])
    values = iter(["a", "b", "c"])
    assert cache.get("k", lambda: (next(values), 10.0)) == "a"
    now[0] = 109.0
    assert cache.get("k", lambda: (next(values), 10.0)) == "a"
    now[0] = 110.5
    assert cache.get("k", lambda: (next(values), 10.0)) == "b"
    cache.forget("k")
    assert cache.get("k", lambda: (next(values), 10.0)) == "c"
    cache.forget()
    assert cache.get("other", lambda: ("x", 1.0)) == "x"


def test_a_bounded_cache_drops_expired_values_first_then_the_oldest():
    now = [0.0]
    cache: TtlCache[str, str] = TtlCache(clock=lambda: now[0], max_entries=3)
    cache.get("long", lambda: ("L", 100.0))
    cache.get("short-1", lambda: ("s", 1.0))
    cache.get("short-2", lambda: ("s", 1.0))
    now[0] = 5.0
    cache.get("new", lambda: ("N", 100.0))
    assert len(cache) == 2  # both expired values went, the long-lived one stayed
    assert cache.get("long", lambda: ("reloaded", 1.0)) == "L"
    for n in range(10):
        cache.get(f"k{n}", lambda: ("v", 100.0))
    assert len(cache) == 3
    assert cache.get("long", lambda: ("reloaded", 1.0)) == "reloaded"


def test_caller_chosen_keys_leave_no_load_lock_behind():
    cache: TtlCache[str, None] = TtlCache(max_entries=100)
    for n in range(10_000):
        cache.get(f"unknown-{n}", lambda: (None, 10.0))
    assert len(cache) == 100
    assert cache._loading == {}


def test_a_failed_load_leaves_no_lock_and_is_tried_again():
    cache: TtlCache[str, int] = TtlCache()

    def fail() -> tuple[int, float]:
        raise OSError("down")

    for _ in range(2):
        with pytest.raises(OSError, match="down"):
            cache.get("k", fail)
    assert cache._loading == {}
    assert cache.get("k", lambda: (1, 10.0)) == 1
