"""The main job, end to end on the local stack: onboard a tenant, receive a burst of WeCom callbacks, report.

Each step is timed and the report ends with what the simulator (not the app) saw: WeCom calls per API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from chalicelib.services.broadcasts import create_broadcast
from chalicelib.store.broadcasts import Broadcast
from chalicelib.store.customers import CustomerStore
from local.environment import DemoEnvironment
from local.mass_message import fast_forward_follow, most_used_tag, seed_customers, wait_dispatched, wecom_view
from local.sync_demo import run_full_sync

MASS_MESSAGE_WAIT_SECONDS = 120.0


class Report:
    """Step timings and counts, printed at the end."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - started

    def print(self, wecom_calls: dict[str, int]) -> None:
        print("\n== Qiwei Reach: main job report")
        for name, seconds in self.timings.items():
            print(f"  {name:<48} {seconds:8.2f} s")
        for name, value in self.counts.items():
            print(f"  {name:<48} {value:8d}")
        print("  WeCom calls seen by the simulator:")
        for api, n in sorted(wecom_calls.items()):
            print(f"    {api:<46} {n:6d}")


def receive_callbacks(env: DemoEnvironment, report: Report, new_friends: int) -> None:
    """A burst of new friends through the demo company's channel QR codes, signed and encrypted by the simulator."""
    scenario = env.sim.emitter(env.company).new_friends(new_friends, state=DEMO_CHANNEL_STATE, over_seconds=0)
    with tqdm(total=new_friends, desc="callbacks delivered", unit="cb") as bar:
        while not scenario.done:
            bar.update(sum(1 for e in scenario.emitted if e.delivered) - bar.n)
            time.sleep(0.1)
        scenario.wait()
        bar.update(sum(1 for e in scenario.emitted if e.delivered) - bar.n)
    report.counts["callbacks sent"] = len(scenario.emitted)
    report.counts["callbacks answered 200"] = sum(1 for e in scenario.emitted if e.delivered)
    report.counts["callback attempts (incl. retries)"] = sum(e.attempts for e in scenario.emitted)


DEMO_CHANNEL_STATE = "store_01"
WELCOME_WAIT_SECONDS = 25.0


def open_channel(env: DemoEnvironment, report: Report) -> None:
    """The store's 「联系我」 QR code, with an auto-tag and a welcome message, through the admin API."""
    tag_id = sorted(env.company.tags.tags)[0]
    body = {
        "name": "门店01",
        "userids": sorted(env.company.employees)[:3],
        "state": DEMO_CHANNEL_STATE,
        "auto_tag_ids": [tag_id],
        "welcome_text": "欢迎光临！扫码好友享水果八折。",
    }
    with env.admin() as admin:
        admin.post("/v1/channels", json=body).raise_for_status()
    report.counts["channels"] = 1


def welcome_new_friends(env: DemoEnvironment, report: Report, new_friends: int) -> None:
    """Wait for the workers to welcome every new friend, as the simulator counted, and report the delays it saw."""
    deadline = time.monotonic() + WELCOME_WAIT_SECONDS
    with tqdm(total=new_friends, desc="welcome messages", unit="msg") as bar:
        while True:
            delivered = env.sim.stats(env.company.corpid)["welcome"]["delivered"]
            bar.update(delivered - bar.n)
            if delivered >= new_friends or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    delays = sorted(env.sim.stats(env.company.corpid, detail=True)["welcome"]["delays"])
    report.counts["welcome messages delivered (simulator)"] = len(delays)
    if delays:
        report.counts["welcome delay p50 (ms, simulator)"] = int(1000 * delays[len(delays) // 2])
        report.counts["welcome delay max (ms, simulator)"] = int(1000 * delays[-1])
    with env.admin() as admin:
        channel = admin.get("/v1/channels").raise_for_status().json()["channels"][0]
    report.counts["channel store_01: friends added"] = channel["figures"]["friends_added"]


def build_material_library(env: DemoEnvironment, report: Report) -> None:
    """Links for the mass and welcome messages, through the admin API (media kinds need an https source to fetch)."""
    links = [
        {"type": "link", "title": "本周特价", "url": "https://shop.example.com/weekly", "desc": "水果八折"},
        {"type": "link", "title": "会员中心", "url": "https://shop.example.com/member"},
    ]
    with env.admin() as admin:
        for link in links:
            admin.post("/v1/materials", json=link).raise_for_status()
        listed = admin.get("/v1/materials", params={"type": "link"}).raise_for_status().json()
    report.counts["link materials in the library"] = len(listed["materials"])


def load_customers(env: DemoEnvironment, report: Report) -> None:
    """The onboarding load: every employee, tag and customer of the demo company through the full sync."""
    figures = run_full_sync(env)
    report.counts["customers synced"] = figures.customers
    report.counts["follow relations synced"] = figures.relations
    report.counts["sync: customers per second"] = round(figures.customers_per_second)
    report.counts["sync: WeCom calls"] = figures.wecom_calls_simulator
    report.counts["sync: invocations (with continuations)"] = figures.invocations


def send_mass_message(env: DemoEnvironment, report: Report) -> None:
    """A mass message to the customers with the company's most used tag, planned and dispatched by the engine's
    handlers through the pump; then the senders confirm (simulated) and the follow passes record the results."""
    assert env.tenant is not None
    tenant = env.tenant.tenant_id
    if not CustomerStore(tenant).list_employees():
        seed_customers(tenant, env.company)
    tag = most_used_tag(env.company)
    broadcast = create_broadcast(
        tenant, content={"text": {"content": "本周水果八折，欢迎到店选购"}}, audience={"tags": [tag]}, start=True
    )
    with tqdm(desc="mass message batches dispatched", unit="batch") as bar:

        def progress(current: Broadcast, final: int) -> None:
            bar.total = current.counts.get("batches") or None
            bar.update(final - bar.n)

        dispatched = wait_dispatched(
            tenant, broadcast.broadcast_id, timeout=MASS_MESSAGE_WAIT_SECONDS, on_progress=progress
        )
    with tqdm(
        total=dispatched.counts.get("recipients", 0), desc="mass message received (simulator)", unit="cust"
    ) as bar:
        done = fast_forward_follow(env.sim, tenant, broadcast.broadcast_id, timeout=MASS_MESSAGE_WAIT_SECONDS)
        bar.update(wecom_view(env.sim, env.company, done.content["text"]).statuses[1])
    report.counts["mass message recipients planned"] = done.counts.get("recipients", 0)
    report.counts["mass message batches sent"] = done.counts.get("batches_sent", 0)
    report.counts["mass message received (simulator)"] = bar.n
    for status in ("sent", "not_friend", "over_quota"):
        report.counts[f"mass message results: {status}"] = done.counts.get(status, 0)


def run_demo(*, customers: int, new_friends: int) -> int:
    report = Report()
    with report.step("start simulator + local stack, onboard tenant"):
        env = DemoEnvironment(customers=customers, access_log=False).start()
    try:
        report.counts["customers in the demo company"] = customers
        with report.step("load the demo tenant's customers (full sync)"):
            load_customers(env, report)
        with report.step("open channel store_01 (QR code, welcome)"):
            open_channel(env, report)
        with report.step(f"receive {new_friends} new-friend callbacks"):
            receive_callbacks(env, report, new_friends)
        with report.step("welcome every new friend"):
            welcome_new_friends(env, report, new_friends)
        with report.step("build the material library"):
            build_material_library(env, report)
        with report.step("send a mass message by tag"):
            send_mass_message(env, report)
        stats = env.sim.stats(env.company.corpid)
        report.print(stats["calls"])
    finally:
        env.stop()
    return 0
