"""`make run`'s tracking step: a salesperson shares a material, a few customers open it inside WeChat (consent, the
simulator's OAuth) and read it, one person opens it outside WeChat, and the sharer's WeCom alerts are read back from
the simulator. The promise: every identified opener is alerted, the anonymous one is not.

The readers here are plain HTTP clients (the page's own script runs in a real browser in the end-to-end test); their
beacons are what the page sends: open, heartbeats with visible time, a scroll mark, an action, leave.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from chalicelib.domain import signed_tokens
from chalicelib.domain.signed_tokens import SalesLinkClaims
from chalicelib.services import share_links
from local.environment import DemoEnvironment
from local.wecom_sim import Company

WECHAT_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile MicroMessenger/8.0.47"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"
MATERIAL = {"type": "link", "title": "秋季新品目录", "url": "https://shop.example.com/autumn", "desc": "当季水果礼盒"}
ALERT_WAIT_SECONDS = 60.0
HEARTBEAT_MS = 5_000


@dataclass
class TrackingFigures:
    """What the run saw: opens, who was identified, the alerts the sharer received (as the simulator saw them)."""

    sharer: str
    identified: list[str]
    anonymous: int
    alerts: list[dict] = field(default_factory=list)
    alerted: set[str] = field(default_factory=set)
    seconds_to_alerts: float = 0.0

    def promises_broken(self) -> list[str]:
        broken = []
        missing = set(self.identified) - self.alerted
        if missing:
            broken.append(f"{len(missing)} identified openers of a shared material not alerted to the sharer")
        strangers = self.alerted - set(self.identified)
        if strangers or len(self.alerts) > len(self.identified):
            broken.append("an alert went out for a viewer who was not identified")
        return broken

    def figures(self) -> dict[str, object]:
        return {
            "tracking_openers_identified": len(self.identified),
            "tracking_openers_anonymous": self.anonymous,
            "tracking_alerts": len(self.alerts),
            "tracking_seconds_to_alerts": round(self.seconds_to_alerts, 2),
        }


def card_customer(url: str, now: float) -> str:
    """The customer an alert card's link names, the link verified with the tenant's keys (a bad one raises); only
    while the stack that holds those keys is up."""
    link = url.rsplit("/", 1)[-1]
    return signed_tokens.verify(link, SalesLinkClaims, share_links.share_keys_of, now).customer


def alerted_customers(alerts: list[dict]) -> set[str]:
    """The customers the alerts' cards link to (a digest's card links to the sharer's own page: no one customer)."""
    now = time.time()
    return {card_customer(a["url"], now) for a in alerts if a.get("url")} - {""}


def configure_wechat(env: DemoEnvironment, allow_userinfo: bool = True) -> None:
    """The demo tenant's official account and mini-program: the simulator company's, through the admin API."""
    apps = env.sim.wechat_apps(env.company)
    body = {
        "oa_appid": apps["oa"][0],
        "oa_secret": apps["oa"][1],
        "allow_userinfo": allow_userinfo,
        "mp_appid": apps["mp"][0],
        "mp_secret": apps["mp"][1],
    }
    with env.admin() as admin:
        admin.put("/v1/wechat", json=body).raise_for_status()


def share_material(env: DemoEnvironment, sharer: str, material: dict | None = None) -> dict:
    """Add a material and share it as `sharer` (an admin on the employee's behalf): the share with its URL."""
    with env.admin() as admin:
        created = admin.post("/v1/materials", json=material or MATERIAL).raise_for_status().json()["material"]
        share = admin.post("/v1/shares", json={"material_id": created["material_id"], "sharer": sharer})
        return {**share.raise_for_status().json(), "material_id": created["material_id"], "title": created["title"]}


def customers_of(company: Company, sharer: str, n: int) -> list[tuple[str, str]]:
    """Up to n of the sharer's customers who are WeChat users: (external_userid, unionid)."""
    found = []
    for follow in company.book.follows_of_user(sharer):
        customer = company.book.customers[follow.external_userid]
        if customer.unionid and not follow.deleted_by_customer:
            found.append((customer.external_userid, customer.unionid))
    return found[:n]


def open_page(url: str, user_agent: str, consent: bool) -> tuple[str, str]:
    """Open a share link like a phone's browser (cookies, redirects through WeChat's OAuth when inside WeChat):
    the share token and the viewer token ("" when anonymous) the page carries."""
    with httpx.Client(headers={"User-Agent": user_agent}, follow_redirects=True, timeout=30) as browser:
        page = browser.get(url)
        if consent and "consent?choice=1" in page.text:
            page = browser.get(f"{url}/consent?choice=1")
        page.raise_for_status()
    share = re.search(r'data-share="([^"]*)"', page.text)
    viewer = re.search(r'data-viewer="([^"]*)"', page.text)
    if share is None or viewer is None:
        raise RuntimeError("the shared page did not render")
    return share.group(1), viewer.group(1)


def read(api_url: str, share: str, viewer: str, heartbeats: int) -> int:
    """Send the beacons of one reading, as the page batches them: open, heartbeats, a scroll mark, an action, leave;
    the events the intake accepted."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(api_url))
    now = int(time.time() * 1000)
    events: list[dict] = [{"seq": 0, "type": "open", "at": now}]
    events += [{"seq": 1 + i, "type": "heartbeat", "at": now, "visible_ms": HEARTBEAT_MS} for i in range(heartbeats)]
    events += [
        {"seq": heartbeats + 1, "type": "scroll", "at": now, "depth": 75},
        {"seq": heartbeats + 2, "type": "action", "at": now, "action": "add_wecom"},
        {"seq": heartbeats + 3, "type": "leave", "at": now, "visible_ms": 1_000},
    ]
    body = {"share": share, "session": secrets.token_hex(8), "events": events} | ({"viewer": viewer} if viewer else {})
    answer = httpx.post(f"{api_url}/t/beacons", json=body, headers={"Origin": origin}, timeout=30)
    answer.raise_for_status()
    return int(answer.json()["accepted"])


def view_alerts(env: DemoEnvironment, sharer: str, since: float) -> list[dict]:
    """The view alerts (textcards) the sharer received since `since`, as the simulator saw them."""
    inbox = env.sim.stats(env.company.corpid)["app_messages"]["inbox"]
    return [
        m
        for m in inbox
        if m["userid"] == sharer
        and m["msgtype"] == "textcard"
        and m["received_at"] >= since
        and "正在看" in m.get("description", "")
    ]


def play_tracking(env: DemoEnvironment, readers: int = 3, sharer: str = "emp00001") -> TrackingFigures:
    """Share a material, have one person open it outside WeChat and then `readers` customers in WeChat, and wait
    (bounded) for the sharer's alerts, which take the real-time path (the views themselves are folded in bulk)."""
    configure_wechat(env)
    share = share_material(env, sharer)
    started = time.time()
    figures = TrackingFigures(sharer=sharer, identified=[], anonymous=0)
    token, viewer = open_page(share["url"], BROWSER_UA, consent=False)
    read(env.api_url, token, viewer, heartbeats=2)
    figures.anonymous = 0 if viewer else 1
    for external_userid, unionid in customers_of(env.company, sharer, readers):
        token, viewer = open_page(share["url"], f"{WECHAT_UA} SimWeChatUser/{unionid}", consent=True)
        read(env.api_url, token, viewer, heartbeats=3)
        if viewer:
            figures.identified.append(external_userid)
    deadline = time.monotonic() + ALERT_WAIT_SECONDS
    while len(view_alerts(env, sharer, started)) < len(figures.identified) and time.monotonic() < deadline:
        time.sleep(0.2)
    figures.alerts = view_alerts(env, sharer, started)
    figures.alerted = alerted_customers(figures.alerts)
    figures.seconds_to_alerts = max((a["received_at"] for a in figures.alerts), default=started) - started
    return figures
