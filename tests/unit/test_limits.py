"""WeCom's documented limits and the helpers that check against them."""

from __future__ import annotations

import pytest

from chalicelib.domain import wecom_limits as limits


def test_utf8_length_counts_bytes_the_way_wecom_does():
    assert limits.utf8_length("hello") == 5
    assert limits.utf8_length("你好") == 6
    fits = "客" * (limits.TEXT_MAX_BYTES // 3)
    assert limits.utf8_length(fits) <= limits.TEXT_MAX_BYTES < limits.utf8_length(fits + "户")


def test_chunked_respects_a_per_call_maximum_and_keeps_order():
    userids = [f"u{i}" for i in range(250)]
    chunks = list(limits.chunked(userids, limits.BATCH_GET_BY_USER_MAX_USERIDS))
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert [u for c in chunks for u in c] == userids
    assert list(limits.chunked([], 100)) == []


def test_chunked_rejects_a_size_that_would_never_advance():
    with pytest.raises(ValueError, match="positive"):
        list(limits.chunked([1], 0))


def test_hourly_quotas_bind_before_sixty_full_minutes():
    assert limits.CORP_API_CALLS_PER_HOUR < 60 * limits.CORP_API_CALLS_PER_MINUTE
    assert limits.IP_API_CALLS_PER_HOUR < 60 * limits.IP_API_CALLS_PER_MINUTE
    assert limits.APP_MESSAGE_PER_MEMBER_PER_HOUR < 60 * limits.APP_MESSAGE_PER_MEMBER_PER_MINUTE
