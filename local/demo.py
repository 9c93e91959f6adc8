"""The main job, end to end on the local stack: onboard a tenant, then a burst of new friends while a re-sync and a
mass message run; report, and check the product's promises.

Each step is timed; the report ends with what the simulator (not the app) saw. The last line is one JSON object of
figures whose `promises_broken` lists, in words, every promise the run broke (every new friend welcomed inside
WeCom's 20 s, every mass-message recipient created once, every new friend stored, the re-sync done, every identified
opener of a shared material alerted to its sharer and no anonymous one); the exit status
is 1 when that list is not empty.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from chalicelib.domain.broadcasts import Broadcast
from local.burst import MASS_MESSAGE_TEXT, BurstFigures, open_burst_channel, play_burst, start_bulk_work
from local.demo_groups import run_group_demo
from local.demo_moments import run_links_and_moments
from local.demo_tracking import TrackingFigures, play_tracking
from local.environment import DemoEnvironment
from local.mass_message import fast_forward_follow, planned_recipients, wait_dispatched, wecom_view
from local.sync_demo import run_full_sync

MASS_MESSAGE_WAIT_SECONDS = 120.0


class Report:
    """Step timings and counts, printed at the end."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.alerts: list[str] = []

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
        if self.alerts:
            print("  Alerts the sharer received in WeCom (simulator):")
            for line in self.alerts:
                print(f"    {line}")
        print("  WeCom calls seen by the simulator:")
        for api, n in sorted(wecom_calls.items()):
            print(f"    {api:<46} {n:6d}")


DEMO_CHANNEL_STATE = "store_01"
STORED_WAIT_SECONDS = 120.0
SYNC_WAIT_SECONDS = 600.0


def open_channel(env: DemoEnvironment, report: Report) -> None:
    """The store's 「联系我」 QR code, with an auto-tag and a welcome message, through the admin API."""
    open_burst_channel(env, DEMO_CHANNEL_STATE, "门店01")
    report.counts["channels"] = 1


def friends_counted(env: DemoEnvironment, report: Report, new_friends: int) -> int:
    """Wait (bounded) for the events worker to store every new friend and count it for the channel."""
    deadline = time.monotonic() + STORED_WAIT_SECONDS
    with env.admin() as admin:
        while True:
            channel = admin.get("/v1/channels").raise_for_status().json()["channels"][0]
            added = channel["figures"]["friends_added"]
            if added >= new_friends or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    report.counts["channel store_01: friends added"] = added
    return added


def wait_resync(env: DemoEnvironment, report: Report) -> str:
    """Wait for the re-sync started with the burst; its final status."""
    deadline = time.monotonic() + SYNC_WAIT_SECONDS
    with env.admin() as admin:
        while True:
            run = admin.get("/v1/sync").raise_for_status().json()["run"]
            if run["status"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    report.counts["re-sync: relations"] = run["counts"]["relations"]
    return str(run["status"])


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


def finish_mass_message(env: DemoEnvironment, report: Report, broadcast_id: str) -> dict[str, int]:
    """Follow the mass message through planning and dispatch (by the pump's handlers), let the senders confirm
    (simulated), run the follow passes; the once-each figures as the simulator saw them."""
    assert env.tenant is not None
    tenant = env.tenant.tenant_id
    with tqdm(desc="mass message batches dispatched", unit="batch") as bar:

        def progress(current: Broadcast, final: int) -> None:
            bar.total = current.counts.get("batches") or None
            bar.update(final - bar.n)

        wait_dispatched(tenant, broadcast_id, timeout=MASS_MESSAGE_WAIT_SECONDS, on_progress=progress)
    created = wecom_view(env.sim, env.company, MASS_MESSAGE_TEXT)
    planned = planned_recipients(tenant, broadcast_id)
    done = fast_forward_follow(env.sim, tenant, broadcast_id, timeout=MASS_MESSAGE_WAIT_SECONDS)
    received = wecom_view(env.sim, env.company, MASS_MESSAGE_TEXT).statuses[1]
    report.counts["mass message recipients planned"] = len(planned)
    report.counts["mass message batches sent"] = done.counts.get("batches_sent", 0)
    report.counts["mass message received (simulator)"] = received
    for status in ("sent", "not_friend", "over_quota"):
        report.counts[f"mass message results: {status}"] = done.counts.get(status, 0)
    return {
        "mass_message_recipients": len(planned),
        "mass_message_created_twice": created.duplicates,
        "mass_message_missing": len(planned - set(created.tasks_per_customer)),
        "mass_message_received": received,
    }


def report_tracking(tracking: TrackingFigures, report: Report) -> None:
    """The shared material's openers and the alerts its sharer received, in the report."""
    report.counts["shared material: identified openers"] = len(tracking.identified)
    report.counts["shared material: anonymous openers"] = tracking.anonymous
    report.counts[f"shared material: WeCom alerts to {tracking.sharer}"] = len(tracking.alerts)
    report.alerts = [f"{a['title']} ({a.get('description', '')})" for a in tracking.alerts]


def promises_broken(
    burst: BurstFigures, mass: dict[str, int], friends_added: int, resync: str, tracking: TrackingFigures
) -> list[str]:
    """Every promise of the product that this run broke, in words."""
    broken = burst.promises_broken() + tracking.promises_broken()
    if mass["mass_message_created_twice"]:
        broken.append(f"{mass['mass_message_created_twice']} mass-message recipients created more than once")
    if mass["mass_message_missing"]:
        broken.append(f"{mass['mass_message_missing']} planned mass-message recipients never created")
    if friends_added < burst.new_friends:
        broken.append(f"{burst.new_friends - friends_added} new friends not counted for their channel")
    if resync != "done":
        broken.append(f"the re-sync ended {resync}")
    return broken


def run_demo(*, customers: int, new_friends: int, over_seconds: float) -> int:
    """The main job; 0 when every promise held, 1 (after a loud report) when one broke."""
    report = Report()
    with report.step("start simulator + local stack, onboard tenant"):
        env = DemoEnvironment(customers=customers, access_log=False).start()
    try:
        report.counts["customers in the demo company"] = customers
        with report.step("load the demo tenant's customers (full sync)"):
            load_customers(env, report)
        with report.step("open channel store_01 (QR code, auto-tag, welcome)"):
            open_channel(env, report)
        with report.step("build the material library"):
            build_material_library(env, report)
        with report.step(f"{new_friends} new friends in {over_seconds:g} s, with a re-sync and a mass message"):
            broadcast_id = start_bulk_work(env)
            burst = play_burst(env, DEMO_CHANNEL_STATE, new_friends, over_seconds, progress=True)
        with report.step("new friends stored and counted for store_01"):
            friends_added = friends_counted(env, report, new_friends)
        with report.step("re-sync finished"):
            resync = wait_resync(env, report)
        with report.step("mass message dispatched and confirmed"):
            mass = finish_mass_message(env, report, broadcast_id)
        with report.step("customer groups: sync, welcome template, join way, group message"):
            groups = run_group_demo(env)
        with report.step("share a material; customers open it (one anonymous)"):
            tracking = play_tracking(env)
            report_tracking(tracking, report)
        with report.step("acquisition-link friends welcomed, a moment followed to its end"):
            links_and_moments = run_links_and_moments(env)
        stats = env.sim.stats(env.company.corpid)
        report.print(stats["calls"])
        figures = {
            **burst.figures(),
            **mass,
            "groups": groups,
            **{k: v for k, v in links_and_moments.items() if k != "broken"},
            **tracking.figures(),
            "channel_friends_added": friends_added,
            "resync": resync,
            "wecom_simulator_answer": env.sim.answer_times(),
            "seconds": {name: round(seconds, 1) for name, seconds in report.timings.items()},
        }
    finally:
        env.stop()
    broken = promises_broken(burst, mass, friends_added, resync, tracking) + groups["promises_broken"]
    broken += links_and_moments["broken"]
    if broken:
        print("\n!! PROMISES BROKEN:", file=sys.stderr)
        for line in broken:
            print(f"!!   {line}", file=sys.stderr)
    else:
        print(
            "\nAll promises held: every new friend welcomed in time, every mass-message recipient created once, "
            "every identified opener of a shared material alerted and no anonymous one."
        )
    print(json.dumps({**figures, "promises_broken": broken}, ensure_ascii=False), flush=True)
    return 1 if broken else 0
