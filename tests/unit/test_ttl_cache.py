"""TtlCache: one load per key at a time however many callers ask together; values live their TTL; forget drops."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

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
