"""A burst of new friends through one channel while bulk work runs, as `make run` and bench/welcome.py play it.

The channel has auto-tags and a welcome message; while the burst arrives, a full re-sync of the tenant and the
planning of a mass message run on the same stack, so the one path with a deadline (the welcome, 20 s from WeCom's
event) competes with the work that has none. Every figure is the simulator's: when it issued each WelcomeCode, when
send_welcome_msg used it, which codes outlived WeCom's 20 s unused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from chalicelib.services.broadcasts import create_broadcast
from local.environment import DemoEnvironment
from local.mass_message import most_used_tag
from local.wecom_sim.emitter import Scenario

WELCOME_WINDOW_SECONDS = 20.0
WELCOME_TARGET_P99_SECONDS = 3.0
POLL_SECONDS = 0.2


def percentile(values: list[float], share: float) -> float | None:
    """The value below which `share` of `values` lie (nearest rank); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class BurstFigures:
    """What the simulator saw of one burst."""

    new_friends: int
    over_seconds: float
    callbacks_answered: int
    callback_attempts: int
    welcomed: int
    codes_expired: int
    delays: list[float] = field(default_factory=list)
    send_welcome_codes: dict[str, int] = field(default_factory=dict)

    @property
    def delay_p99(self) -> float | None:
        return percentile(self.delays, 0.99)

    def promises_broken(self) -> list[str]:
        """The product's promises this burst broke: every new friend welcomed, inside WeCom's window."""
        broken = []
        if self.welcomed < self.new_friends:
            broken.append(f"{self.new_friends - self.welcomed} of {self.new_friends} new friends not welcomed")
        if self.codes_expired:
            broken.append(f"{self.codes_expired} welcome codes expired unused")
        p99 = self.delay_p99
        if p99 is not None and p99 >= WELCOME_WINDOW_SECONDS:
            broken.append(f"welcome delay p99 {p99:.1f} s is past WeCom's {WELCOME_WINDOW_SECONDS:.0f} s")
        return broken

    def figures(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "new_friends": self.new_friends,
            "over_seconds": self.over_seconds,
            "callbacks_answered": self.callbacks_answered,
            "callback_attempts": self.callback_attempts,
            "welcomed": self.welcomed,
            "welcome_codes_expired": self.codes_expired,
            "welcome_delay_p50_s": rounded(percentile(self.delays, 0.5)),
            "welcome_delay_p99_s": rounded(self.delay_p99),
            "welcome_delay_max_s": rounded(max(self.delays, default=None)),
            "welcome_delay_p99_target_s": WELCOME_TARGET_P99_SECONDS,
            "welcome_window_s": WELCOME_WINDOW_SECONDS,
            "send_welcome_msg_codes": self.send_welcome_codes,
        }


def open_burst_channel(env: DemoEnvironment, state: str, name: str) -> dict[str, Any]:
    """A 「联系我」 QR code for three employees, with an auto-tag and a welcome message, through the admin API."""
    body = {
        "name": name,
        "userids": sorted(env.company.employees)[:3],
        "state": state,
        "auto_tag_ids": [sorted(env.company.tags.tags)[0]],
        "welcome_text": "欢迎光临！扫码好友享水果八折。",
    }
    with env.admin() as admin:
        return admin.post("/v1/channels", json=body).raise_for_status().json()["channel"]


MASS_MESSAGE_TEXT = "本周水果八折，欢迎到店选购"


def start_bulk_work(env: DemoEnvironment) -> str:
    """What the burst competes with: a full re-sync of the tenant through the admin API, and a mass message to the
    company's most used tag, started now (planned and dispatched by the pump's handlers); the mass message's id."""
    assert env.tenant is not None
    with env.admin() as admin:
        admin.post("/v1/sync").raise_for_status()
    broadcast = create_broadcast(
        env.tenant.tenant_id,
        content={"text": {"content": MASS_MESSAGE_TEXT}},
        audience={"tags": [most_used_tag(env.company)]},
        start=True,
    )
    return broadcast.broadcast_id


def _codes_of(scenario: Scenario) -> list[str]:
    return [e.fields["WelcomeCode"] for e in scenario.emitted if "WelcomeCode" in e.fields]


def play_burst(
    env: DemoEnvironment, state: str, new_friends: int, over_seconds: float, *, progress: bool
) -> BurstFigures:
    """Emit `new_friends` signed add_external_contact callbacks over `over_seconds`, then wait until every code of
    the burst was used or has outlived WeCom's window; the figures are the simulator's."""
    sim, company = env.sim, env.company
    delivered_before = sim.stats(company.corpid, detail=True)["welcome"]["delays"]
    scenario = sim.emitter(company).new_friends(new_friends, state=state, over_seconds=over_seconds)
    with tqdm(total=new_friends, desc="new friends welcomed", unit="friend", disable=not progress) as bar:
        while True:
            welcomed = sim.stats(company.corpid)["welcome"]["delivered"] - len(delivered_before)
            bar.update(welcomed - bar.n)
            if scenario.done and _settled(env, _codes_of(scenario)):
                break
            time.sleep(POLL_SECONDS)
    scenario.wait()
    codes = _codes_of(scenario)
    stats = sim.stats(company.corpid, detail=True)
    with sim.lock:
        used = sum(1 for code in codes if company.welcome.codes[code].used)
    return BurstFigures(
        new_friends=new_friends,
        over_seconds=over_seconds,
        callbacks_answered=sum(1 for e in scenario.emitted if e.delivered),
        callback_attempts=sum(e.attempts for e in scenario.emitted),
        welcomed=used,
        codes_expired=len(codes) - used,
        delays=stats["welcome"]["delays"][len(delivered_before) :],
        send_welcome_codes=stats["codes"].get("externalcontact/send_welcome_msg", {}),
    )


def _settled(env: DemoEnvironment, codes: list[str]) -> bool:
    """Every code used, or older than WeCom's window on the simulator's clock (it can no longer be used)."""
    sim, company = env.sim, env.company
    with sim.lock:
        now = sim.clock.now()
        return all(
            company.welcome.codes[c].used or now - company.welcome.codes[c].issued_at > WELCOME_WINDOW_SECONDS
            for c in codes
        )
