"""The full customer sync of the demo tenant through the admin API, as `make run` drives it, and of any tenant with a
chosen number of lanes, as bench/sync.py drives it.

`POST /v1/sync` starts a run; the local stack's pump runs the sync queue's handler (continuations included) and
`GET /v1/sync` shows its progress, drawn as a progress bar of relations synced. `run_sync` starts the run with
`services.sync.request_sync` in this process (whose environment points at the local stack) and follows the run item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tqdm import tqdm

from chalicelib.services.sync import request_sync
from chalicelib.store.sync_runs import SyncRuns
from local.environment import DemoEnvironment
from local.wecom_sim import Company

SYNC_API = "externalcontact/batch/get_by_user"
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class SyncFigures:
    """What a finished run did, as the app counted it and as the simulator saw it."""

    seconds: float
    customers: int
    relations: int
    pages: int
    invocations: int
    wecom_calls_app: int
    wecom_calls_simulator: int
    batch_calls_simulator: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def customers_per_second(self) -> float:
        return self.customers / self.seconds if self.seconds else 0.0

    @property
    def relations_per_batch_call(self) -> float:
        return self.relations / self.batch_calls_simulator if self.batch_calls_simulator else 0.0


def wecom_relations(env: DemoEnvironment, company: Company | None = None) -> int:
    """Follow relations of active employees in the company (the demo company by default): what a complete sync
    stores."""
    company = company or env.company
    return sum(len(company.book.follows_of_user(u)) for u in company.active_userids())


def run_full_sync(env: DemoEnvironment, timeout_seconds: float = 1800.0, show_progress: bool = True) -> SyncFigures:
    """Start a sync through the admin API, follow it to the end and return its figures."""
    calls_before = env.sim.stats(env.company.corpid)["calls"]
    total = wecom_relations(env)
    started = time.perf_counter()
    with env.admin() as admin, tqdm(total=total, desc="relations synced", unit="rel", disable=not show_progress) as bar:
        admin.post("/v1/sync").raise_for_status()
        deadline = time.monotonic() + timeout_seconds
        while True:
            run = admin.get("/v1/sync").raise_for_status().json()["run"]
            bar.update(min(total, run["counts"]["relations"]) - bar.n)
            if run["status"] in ("done", "failed"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"sync still {run['status']} after {timeout_seconds} s")
            time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    if run["status"] != "done":
        raise RuntimeError(f"sync failed: {run['error']}")
    calls_after = env.sim.stats(env.company.corpid)["calls"]
    made = {api: n - calls_before.get(api, 0) for api, n in calls_after.items()}
    counts = run["counts"]
    return SyncFigures(
        seconds=seconds,
        customers=len(env.company.book.customers),
        relations=counts["relations"],
        pages=counts["pages"],
        invocations=counts["invocations"],
        wecom_calls_app=counts["wecom_calls"],
        wecom_calls_simulator=sum(n for api, n in made.items() if api != "gettoken"),
        batch_calls_simulator=made.get(SYNC_API, 0),
    )


def run_sync(
    env: DemoEnvironment, tenant_id: str, company: Company, lanes: int, timeout_seconds: float = 1800.0
) -> SyncFigures:
    """Start a run of `tenant_id` (synced from `company`) reading in `lanes` lanes, wait for it and return its
    figures."""
    calls_before = env.sim.stats(company.corpid)["calls"]
    started = time.perf_counter()
    run = request_sync(tenant_id, "bench", lanes=lanes)
    runs = SyncRuns(tenant_id)
    deadline = time.monotonic() + timeout_seconds
    while True:
        current = runs.current()
        if current is None or current.run_id != run.run_id:
            raise RuntimeError("the run was replaced")
        if current.status in ("done", "failed"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"sync still {current.status} after {timeout_seconds} s")
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    if current.status != "done":
        raise RuntimeError(f"sync failed: {current.error}")
    calls_after = env.sim.stats(company.corpid)["calls"]
    made = {api: n - calls_before.get(api, 0) for api, n in calls_after.items()}
    counts = current.counts
    return SyncFigures(
        seconds=seconds,
        customers=len(company.book.customers),
        relations=counts["relations"],
        pages=counts["pages"],
        invocations=counts["invocations"],
        wecom_calls_app=counts["wecom_calls"],
        wecom_calls_simulator=sum(n for api, n in made.items() if api != "gettoken"),
        batch_calls_simulator=made.get(SYNC_API, 0),
        counts=dict(counts),
    )
