"""The shared page in headless Chromium (Debian's package) on the local stack.

A customer opens a share link inside WeChat (its user agent), agrees to be identified, goes through the simulator's
OAuth, reads while the page's own script sends heartbeats, taps an action and leaves; the stored view, its dwell, the
customer's timeline entry and the alert the sharer received in WeCom are checked, and the sharer opens the alert's
link inside WeCom (its user agent), goes through WeCom's member OAuth and sees the view in the customer's timeline.
The page itself: a strict CSP with no violation, no inline script, a plain 404 for a forged link, an anonymous view
outside WeChat and its contact form.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.demo_tracking import WECHAT_UA, configure_wechat, customers_of, share_material, view_alerts
from local.environment import DemoEnvironment
from local.sync_demo import run_full_sync

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHARER = "emp00001"
WECOM_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile wxwork/4.1.22"
HEARTBEAT_MS = 1000
WAIT_MS = 30_000
VIEW_WAIT_SECONDS = 180.0  # views are folded in bulk, a write per view per fold window (resources.BEACONS)
ALERT_WAIT_SECONDS = 120.0  # seconds normally; bounded wide for a loaded machine (a killed invocation is redelivered)
MATERIAL = {"type": "link", "title": "浏览器测试素材", "url": "https://shop.example.com/e2e", "desc": "e2e"}

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (`make chromium` needs apt-get and root)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")


@pytest.fixture(scope="module")
def env() -> Iterator[DemoEnvironment]:
    with DemoEnvironment(
        employees=4, customers=40, access_log=False, environment={"PAGE_HEARTBEAT_MS": str(HEARTBEAT_MS)}
    ) as environment:
        run_full_sync(environment, show_progress=False)
        configure_wechat(environment)
        yield environment


@pytest.fixture(scope="module")
def share(env: DemoEnvironment) -> dict:
    return share_material(env, SHARER, MATERIAL)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """Opens a fresh Chromium profile (its own empty --user-data-dir) with a user agent; closed after the test."""
    driver = sync_api.sync_playwright().start()
    contexts: list[Any] = []

    def open_with(user_agent: str) -> Any:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{len(contexts)}"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS,
            headless=True,
            user_agent=user_agent,
        )
        contexts.append(context)
        return context.pages[0] if context.pages else context.new_page()

    yield open_with
    for context in contexts:
        context.close()
    driver.stop()


def wait_for(condition: Callable[[], Any], seconds: float = WAIT_MS / 1000) -> Any:
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)
    return result


def accepted_beacons(page: Any) -> int:
    return int(page.evaluate("() => Number(document.documentElement.dataset.beaconsAccepted || 0)"))


def test_a_customer_reads_in_wechat_and_the_sharer_is_alerted(env, share, browser):
    external_userid, unionid = customers_of(env.company, SHARER, 1)[0]
    started = time.time()
    page = browser(f"{WECHAT_UA} SimWeChatUser/{unionid}")
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)
    page.goto(share["url"])
    page.click("text=同意并继续")
    page.wait_for_selector("#qr-page")
    assert page.get_attribute("#qr-page", "data-viewer")
    page.wait_for_function(
        "n => Number(document.documentElement.dataset.beaconsAccepted || 0) >= n", arg=4, timeout=WAIT_MS
    )
    before = accepted_beacons(page)
    page.click("button[data-action=add_wecom]")
    page.wait_for_function(
        "n => Number(document.documentElement.dataset.beaconsAccepted || 0) > n", arg=before, timeout=WAIT_MS
    )
    assert page.is_visible("#qr-add-wecom")
    page.goto("about:blank")
    assert violations == []

    def viewed() -> dict | None:
        with env.admin() as admin:
            entries = admin.get(f"/v1/customers/{external_userid}/timeline").raise_for_status().json()["entries"]
        view = next((e for e in entries if e["kind"] == "view" and e["material_id"] == share["material_id"]), None)
        return view if view and view["left"] and view["actions"].get("add_wecom") else None

    view = wait_for(viewed, VIEW_WAIT_SECONDS)
    assert view["sharer"] == SHARER
    assert view["consented"] is True
    assert view["dwell_ms"] >= 2 * HEARTBEAT_MS
    alerts = wait_for(lambda: view_alerts(env, SHARER, started), ALERT_WAIT_SECONDS)
    assert len(alerts) == 1
    assert MATERIAL["title"] in alerts[0]["title"] + alerts[0].get("description", "")

    card = browser(f"{WECOM_UA} SimWeComMember/{SHARER}")
    card.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)
    card.goto(alerts[0]["url"])
    card.wait_for_selector(".qr-timeline", timeout=WAIT_MS)
    assert f"看了「{MATERIAL['title']}」" in card.inner_text(".qr-timeline")
    assert card.url.split("#")[0] == alerts[0]["url"]  # a redirect keeps the authorize URL's fragment
    assert violations == []


def test_the_page_is_strict_and_anonymous_outside_wechat(env, share, browser):
    answer = httpx.get(share["url"], headers={"User-Agent": "Mozilla/5.0 Chrome/120"})
    assert answer.status_code == 200
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy
    assert re.search(r"<script[^>]*>[^<]+</script>", answer.text) is None
    assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", answer.text))
    assert re.search(r"\son[a-z]+\s*=", answer.text) is None
    token = share["url"].rsplit("/", 1)[1]
    forged = httpx.get(share["url"].replace(token, token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")))
    assert forged.status_code == 404
    assert forged.headers["content-type"].startswith("text/html")
    assert "页面不存在" in forged.text
    assert httpx.get(share["url"] + "x").status_code == 404

    page = browser("Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36")
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)
    page.goto(share["url"])
    assert page.get_attribute("#qr-page", "data-viewer") == ""
    page.wait_for_function("() => Number(document.documentElement.dataset.beaconsAccepted || 0) >= 1", timeout=WAIT_MS)
    page.click("button[data-action=leave_contact]")
    page.fill("#qr-contact input[name=name]", "路人")
    page.fill("#qr-contact input[name=phone]", "13800000000")
    page.click("#qr-contact button[type=submit]")
    page.wait_for_selector("text=已收到", timeout=WAIT_MS)
    assert violations == []
