"""Unit tests of the WeCom simulator's rules, on its state objects directly (no HTTP)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from local.wecom_sim import SimConfig, Simulator
from local.wecom_sim import errors as codes
from local.wecom_sim.clock import SimClock
from local.wecom_sim.errors import WeComError
from local.wecom_sim.faults import BUSY, LOST, NONE, Faults
from local.wecom_sim.limits import ApiLimits
from local.wecom_sim.massmsg import MassMessages
from local.wecom_sim.quota import ReceiveQuota, period_and_limit
from local.wecom_sim.tags import MAX_CORP_TAGS, TagBook
from local.wecom_sim.tokens import TokenStore
from local.wecom_sim.transfers import DONE, REFUSED, WAITING, Transfers
from local.wecom_sim.welcome import WelcomeCodes

CHINA = timezone(timedelta(hours=8))


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=CHINA).timestamp()


def test_generation_is_deterministic_and_sized() -> None:
    first = Simulator(SimConfig(seed=5)).add_company(employees=30, customers=500, tags=25)
    second = Simulator(SimConfig(seed=5)).add_company(employees=30, customers=500, tags=25)
    assert first.corpid == second.corpid
    assert first.secret == second.secret
    assert list(first.book.customers) == list(second.book.customers)
    assert len(first.employees) == 30
    assert len(first.book.customers) == 500
    assert len(first.tags.tags) == 25
    assert len(first.aes_key) == 43
    assert first.aes_key.isalnum()
    assert all(first.book.follows_of_customer(c) for c in first.book.customers)
    other = Simulator(SimConfig(seed=6)).add_company(employees=30, customers=500)
    assert other.corpid != first.corpid


def test_company_repr_hides_secrets() -> None:
    company = Simulator().add_company(employees=3, customers=3)
    assert company.secret not in repr(company)
    assert company.aes_key not in repr(company)


def test_clock_runs_at_factor_and_advances() -> None:
    clock = SimClock(start=1_000.0, factor=1000.0)
    assert 1_000.0 <= clock.now() < 1_000.0 + 1000.0
    before = clock.now()
    assert clock.advance(86_400) >= before + 86_400
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_tokens_expire_and_unknown_tokens_are_invalid() -> None:
    store = TokenStore(ttl=60)
    token = store.issue("corp", now=0)
    assert store.check(token, 59) == ("corp", codes.OK)
    assert store.check(token, 60) == ("corp", codes.TOKEN_EXPIRED)
    assert store.check("garbage", 0) == ("", codes.INVALID_TOKEN)
    assert store.check("", 0) == ("", codes.TOKEN_MISSING)


def test_frequency_windows_block_until_the_window_ends() -> None:
    limits = ApiLimits(SimConfig(corp_api_per_minute=3, corp_api_per_hour=5, ip_api_per_minute=100))
    results = [limits.admit("c", "x", "ip", 10.0 + i) for i in range(4)]
    assert results == [0, 0, 0, codes.FREQUENCY_LIMIT]
    assert limits.admit("c", "other", "ip", 14.0) == 0, "limits are per API"
    assert limits.admit("c2", "x", "ip", 14.0) == 0, "limits are per corp"
    assert limits.admit("c", "x", "ip", 60.0) == 0, "a new minute opens"
    assert limits.admit("c", "x", "ip", 61.0) == 0
    assert limits.admit("c", "x", "ip", 120.0) == codes.FREQUENCY_LIMIT, "the hour cap (5) holds"
    assert limits.admit("c", "x", "ip", 3600.0) == 0


def test_ip_limit_spans_corps_and_app_messages_are_unmetered() -> None:
    limits = ApiLimits(SimConfig(ip_api_per_minute=2))
    assert [limits.admit(corp, "x", "1.2.3.4", 0) for corp in ("a", "b", "c")] == [0, 0, codes.FREQUENCY_LIMIT]
    assert all(limits.admit("a", "message/send", "1.2.3.4", 0) == 0 for _ in range(10))


def test_concurrency_cap() -> None:
    limits = ApiLimits(SimConfig(concurrency_cap=2))
    assert limits.enter("c", "x")
    assert limits.enter("c", "x")
    assert not limits.enter("c", "x")
    limits.leave("c", "x")
    assert limits.enter("c", "x")


@pytest.mark.parametrize(
    ("rule", "moment", "limit"),
    [
        ("days_in_month", at(2024, 2, 10), 29),
        ("days_in_month", at(2023, 2, 10), 28),
        ("days_in_month", at(2024, 1, 31, 23), 31),
        ("legacy_month_4", at(2024, 3, 1), 4),
        ("week_7", at(2024, 3, 6), 7),
        ("day_1", at(2024, 3, 6), 1),
    ],
)
def test_quota_limits(rule: str, moment: float, limit: int) -> None:
    assert period_and_limit(rule, moment)[1] == limit


def test_quota_periods_are_natural_periods_in_china_time() -> None:
    quota = ReceiveQuota("day_1")
    assert quota.try_receive("wm1", at(2024, 3, 6, 23, 59))
    assert not quota.try_receive("wm1", at(2024, 3, 6, 23, 59, 30))
    assert quota.try_receive("wm1", at(2024, 3, 7, 0, 0, 1)), "midnight in China starts a new day"
    assert quota.try_receive("wm2", at(2024, 3, 6, 23, 59, 30)), "quota is per receiver"
    legacy = ReceiveQuota("legacy_month_4")
    assert [legacy.try_receive("wm", at(2024, 5, d)) for d in range(1, 6)] == [True, True, True, True, False]
    assert legacy.try_receive("wm", at(2024, 6, 1))


def test_mass_message_statuses_quota_and_never_confirming() -> None:
    config = SimConfig(seed=1, quota_rule="day_1", confirm_delay=30, never_confirm_share=0.0)
    mass = MassMessages(config, "corp", random.Random(1))
    friends = {("u1", "wm_a"), ("u1", "wm_b")}
    received: list[str] = []
    first = mass.create("single", {"u1": ["wm_a", "wm_b", "wm_gone"]}, {"content": "hi"}, [], now=1000)
    second = mass.create("single", {"u1": ["wm_a"]}, {"content": "again"}, [], now=1001)
    mass.settle(1020, lambda u, r: (u, r) in friends, received.append)
    assert all(record.status == 0 for record in first.results["u1"]), "nothing is sent before the sender confirms"
    mass.settle(1100, lambda u, r: (u, r) in friends, received.append)
    assert [r.status for r in first.results["u1"]] == [1, 1, 2]
    assert first.tasks["u1"].status == 2
    assert first.tasks["u1"].send_time == 1030
    assert [r.status for r in second.results["u1"]] == [3], "second message the same day is over quota"
    assert received == ["wm_a", "wm_b"]


def test_never_confirming_share_is_seeded() -> None:
    config = SimConfig(seed=9, never_confirm_share=0.5)
    mass = MassMessages(config, "corp", random.Random(1))
    users = [f"u{i}" for i in range(400)]
    share = sum(not mass.confirms(u) for u in users) / len(users)
    assert 0.4 < share < 0.6
    again = MassMessages(config, "corp", random.Random(2))
    assert [mass.confirms(u) for u in users] == [again.confirms(u) for u in users]


def test_remind_and_cancel_rules() -> None:
    mass = MassMessages(SimConfig(), "corp", random.Random(1))
    message = mass.create("single", {"u1": ["wm"]}, {"content": "x"}, [], now=0)
    for moment in (10, 20, 30):
        mass.remind(message.msgid, moment)
    with pytest.raises(WeComError) as too_many:
        mass.remind(message.msgid, 40)
    assert too_many.value.code == codes.REMIND_TOO_FREQUENT
    mass.remind(message.msgid, 10 + 86_400)
    mass.cancel(message.msgid)
    for action in (lambda: mass.cancel(message.msgid), lambda: mass.remind(message.msgid, 200_000)):
        with pytest.raises(WeComError) as cancelled:
            action()
        assert cancelled.value.code == codes.MASS_CANCELLED
    mass.settle(1_000_000, lambda u, r: True, lambda r: None)
    assert message.tasks["u1"].status == 0, "a cancelled task is never sent"
    with pytest.raises(WeComError) as unknown:
        mass.get("nope")
    assert unknown.value.code == codes.MSGID_INVALID


def test_dispatching_window_answers_41063() -> None:
    mass = MassMessages(SimConfig(dispatch_seconds=5), "corp", random.Random(1))
    message = mass.create("single", {"u1": ["wm"]}, {"content": "x"}, [], now=100)
    with pytest.raises(WeComError) as dispatching:
        mass.readable(message.msgid, 103)
    assert dispatching.value.code == codes.MASS_DISPATCHING
    assert mass.readable(message.msgid, 106) is message


def test_transfers_take_over_after_delay_with_seeded_refusals_and_90_day_limit() -> None:
    transfers = Transfers(SimConfig(seed=2, transfer_refuse_share=0.3, transfer_delay=86_400), "corp")
    customers = [f"wm{i}" for i in range(200)]
    records = [transfers.start("onjob", "a", "b", c, now=0) for c in customers]
    assert transfers.check("wm0", 10) == codes.TRANSFER_IN_PROGRESS
    transfers.settle(86_399, lambda record: True)
    assert all(r.status == WAITING for r in records)
    transfers.settle(86_400, lambda record: True)
    refused = sum(r.status == REFUSED for r in records)
    assert 40 < refused < 80
    assert all(r.status in (DONE, REFUSED) for r in records)
    transfers.start("onjob", "b", "a", "wm0", now=100_000)
    transfers.settle(200_000, lambda record: True)
    assert transfers.check("wm0", 200_000) == codes.TRANSFER_TOO_FREQUENT
    assert transfers.check("wm0", 90 * 86_400 + 1) == codes.OK


def test_welcome_codes_expire_after_20_seconds_and_work_once() -> None:
    welcome = WelcomeCodes(ttl=20, rng=random.Random(1))
    code = welcome.issue("u", "wm", now=100).code
    late = welcome.issue("u", "wm2", now=100).code
    assert welcome.consume(code, 119).external_userid == "wm"
    for value, moment, expected in (
        (code, 119, codes.WELCOME_ALREADY_CHATTING),
        (late, 121, codes.WELCOME_CODE_INVALID),
    ):
        with pytest.raises(WeComError) as failure:
            welcome.consume(value, moment)
        assert failure.value.code == expected


def test_tag_book_limit_and_names() -> None:
    book = TagBook(random.Random(1))
    book.add("", "g", 0, [(f"t{i}", i) for i in range(MAX_CORP_TAGS - 1)], now=0)
    with pytest.raises(WeComError) as over:
        book.add("", "g2", 0, [("x", 0), ("y", 0)], now=0)
    assert over.value.code == codes.TAG_LIMIT
    with pytest.raises(WeComError) as duplicate:
        book.add("", "g", 0, [("t1", 0)], now=0)
    assert duplicate.value.code == codes.TAG_NAME_EXISTS
    with pytest.raises(WeComError) as too_long:
        book.add("", "g3", 0, [("x" * 31, 0)], now=0)
    assert too_long.value.code == codes.INVALID_TAG_NAME_LENGTH


def test_faults_are_deterministic_per_call_and_respect_shares() -> None:
    config = SimConfig(seed=4, fault_error_share=0.1, fault_lost_share=0.1)
    plans = [Faults(config).plan("c", "externalcontact/get").kind for _ in range(1)]
    first, second = Faults(config), Faults(config)
    run1 = [first.plan("c", "externalcontact/get").kind for _ in range(1000)]
    run2 = [second.plan("c", "externalcontact/get").kind for _ in range(1000)]
    assert run1 == run2
    assert plans[0] == run1[0]
    assert 50 < run1.count(BUSY) < 150
    assert 50 < run1.count(LOST) < 150
    assert first.plan("c", "gettoken").kind == NONE, "gettoken is spared unless listed"
