"""The main job, end to end on the local stack: onboard a tenant, receive a burst of WeCom callbacks, report.

Each step is timed and the report ends with what the simulator (not the app) saw: WeCom calls per API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from local.environment import DemoEnvironment
from local.sync_demo import run_full_sync


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
    scenario = env.sim.emitter(env.company).new_friends(new_friends, state="store_01", over_seconds=0)
    with tqdm(total=new_friends, desc="callbacks delivered", unit="cb") as bar:
        while not scenario.done:
            bar.update(sum(1 for e in scenario.emitted if e.delivered) - bar.n)
            time.sleep(0.1)
        scenario.wait()
        bar.update(sum(1 for e in scenario.emitted if e.delivered) - bar.n)
    report.counts["callbacks sent"] = len(scenario.emitted)
    report.counts["callbacks answered 200"] = sum(1 for e in scenario.emitted if e.delivered)
    report.counts["callback attempts (incl. retries)"] = sum(e.attempts for e in scenario.emitted)


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


def run_demo(*, customers: int, new_friends: int) -> int:
    report = Report()
    with report.step("start simulator + local stack, onboard tenant"):
        env = DemoEnvironment(customers=customers, access_log=False).start()
    try:
        report.counts["customers in the demo company"] = customers
        with report.step("load the demo tenant's customers (full sync)"):
            load_customers(env, report)
        with report.step(f"receive {new_friends} new-friend callbacks"):
            receive_callbacks(env, report, new_friends)
        with report.step("build the material library"):
            build_material_library(env, report)
        stats = env.sim.stats(env.company.corpid)
        report.print(stats["calls"])
    finally:
        env.stop()
    return 0
