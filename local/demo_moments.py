"""Acquisition links and customer moments on the local stack, for `make run` and the end-to-end tests.

`link_friends_welcomed`: an acquisition link with a campaign, created through the admin API; WeChat users click the
campaign's URL and add an employee (the simulator plays WeCom's callbacks); each must get the campaign's welcome
inside WeCom's 20 s and be counted for the campaign.

`moment_followed_to_end`: a moment task (text and a link from the material library) for the customers of a few
employees, followed to its end. WeCom's side runs on the simulator's clock, which the demo moves on; each follow
pass is the schedule's own entry (`services.moments.run_timer`) at that time, so three days of following take
seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.domain import moments as rules
from chalicelib.services import moments
from local.environment import DemoEnvironment

CAMPAIGN_WELCOME = "感谢您点击我们的广告！回复1领取新人礼包。"
WAIT_SECONDS = 120.0
MOMENT_SENDERS = 4


def _wait(condition: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached in time")
        time.sleep(0.2)


def link_friends_welcomed(env: DemoEnvironment, friends: int = 3) -> dict[str, Any]:
    """Figures of link-attributed new friends: welcomed with the campaign's text, in time, counted for the campaign."""
    userids = sorted(env.company.employees)[:2]
    body = {
        "name": "短视频广告",
        "userids": userids,
        "campaigns": [{"name": "douyin", "welcome_text": CAMPAIGN_WELCOME}],
    }
    with env.admin() as admin:
        link = admin.post("/v1/acquisition-links", json=body).raise_for_status().json()["link"]
    campaign = next(c for c in link["campaigns"] if c["campaign"] == "douyin")
    before = env.sim.stats(env.company.corpid)["welcome"]["delivered"]
    scenario = env.sim.emitter(env.company).link_friends(link["link_id"], friends, customer_channel=campaign["state"])
    scenario.wait(WAIT_SECONDS)
    _wait(lambda: env.sim.stats(env.company.corpid)["welcome"]["delivered"] >= before + friends)
    codes = env.company.welcome.codes
    welcomed = sum(
        1
        for e in scenario.emitted
        if (codes[e.fields["WelcomeCode"]].sent or {}).get("text") == {"content": CAMPAIGN_WELCOME}
    )

    def counted() -> int:
        with env.admin() as admin:
            view = admin.get(f"/v1/acquisition-links/{link['link_id']}?days=1").raise_for_status().json()["link"]
        return next(c for c in view["campaigns"] if c["campaign"] == "douyin")["figures"]["friends_added"]

    _wait(lambda: counted() >= friends)
    return {
        "link_friends": friends,
        "link_friends_with_campaign_welcome": welcomed,
        "link_friends_counted": counted(),
        "welcome_delay_max": round(env.sim.stats(env.company.corpid, detail=True)["welcome"]["delay_max"], 2),
    }


def moment_followed_to_end(env: DemoEnvironment) -> dict[str, Any]:
    """Create a moment task and follow it to `done`; its counts as the admin API shows them."""
    assert env.tenant is not None
    tenant_id = env.tenant.tenant_id
    senders = sorted(env.company.employees)[:MOMENT_SENDERS]
    material = {"type": "link", "title": "春季新品", "url": "https://shop.example.com/spring"}
    with env.admin() as admin:
        material_id = admin.post("/v1/materials", json=material).raise_for_status().json()["material"]["material_id"]
        body = {"text": "春季新品上市，欢迎到店品尝！", "material_ids": [material_id], "userids": senders}
        task = admin.post("/v1/moments", json=body).raise_for_status().json()["moment"]
    task_id = task["moment_task_id"]
    passes = 0
    for step in (
        env.sim.config.dispatch_seconds + 1,
        2 * env.sim.config.confirm_delay + 1,
        rules.REMIND_AFTER_SECONDS,
        rules.FOLLOW_WINDOW_SECONDS,
    ):
        now = int(env.sim.clock.advance(step))
        moments.run_timer(tenant_id, task_id, moments.MOMENT_FOLLOW, now=now)
        passes += 1
    with env.admin() as admin:
        task = admin.get(f"/v1/moments/{task_id}").raise_for_status().json()["moment"]
        employees = admin.get(f"/v1/moments/{task_id}/employees").raise_for_status().json()["employees"]
    return {
        "moment_status": task["status"],
        "moment_follow_passes": passes,
        "moment_employees": len(employees),
        **{f"moment_{name}": value for name, value in task["counts"].items()},
    }


def run_links_and_moments(env: DemoEnvironment) -> dict[str, Any]:
    """`make run`'s part for links and moments (run last: following a moment moves WeCom's clock on by days).
    Figures of both, and under `broken` the promises they broke, in words."""
    figures = {**link_friends_welcomed(env), **moment_followed_to_end(env)}
    broken = []
    if figures["link_friends_with_campaign_welcome"] != figures["link_friends"]:
        broken.append("a link-attributed new friend did not get the campaign's welcome")
    if figures["welcome_delay_max"] >= 20:
        broken.append("a welcome came after WeCom's 20 s")
    if figures["moment_status"] != "done":
        broken.append(f"the moment task ended {figures['moment_status']}, not done")
    return {**figures, "broken": broken}
