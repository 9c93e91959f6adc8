"""Benchmark: the customer sync of one tenant on the local stack (moto server, pump, simulator): the first load in
parallel lanes against the sequential path, then the nightly re-sync of an unchanged tenant and of one where 1 % of
the customers changed.

`local.environment.DemoEnvironment` builds a simulated company (default 50,000 customers, 200 employees) and the demo
tenant; a second company of the same size and a `baseline` tenant for it are added. The runs, each started with
`services.sync.request_sync` and driven by the pump through the sync queue's handler (continuations included):

1. `sequential`: the baseline tenant's first load in one lane (one chain of messages, the path before lanes);
2. `first_sync`: the demo tenant's first load in `services.sync.LANES` lanes (parallel invocations);
3. `unchanged_resync`: the demo tenant again, WeCom unchanged;
4. `changed_1pct`: the demo tenant again after the simulator's `POST /sim/drift` changed 1 % of its customers without
   a callback (a new remark and one more tag on one relation each).

Figures per run: seconds, customers per second, WeCom calls, invocations, and DynamoDB items as the sync counted them
(`items_read`: items returned by BatchGetItem and by the reconciliation's Query; `items_written`: items put or
deleted on the data table, plus the seen items kept for reconciliation; `run_writes`: updates of the run item, the
bookkeeping), and `moto_busy_share`: the CPU seconds the DynamoDB moto server used during the run ÷ the run's wall
seconds (it answers one request at a time, so near 1.0 it was the bottleneck and more lanes cannot go faster). Every
item here is under 1 KB and 4 KB, so an item written is one write unit and an item read at most
half a read unit (eventually consistent). The ratios: `unchanged_resync_write_ratio` and `changed_1pct_write_ratio`
(items written ÷ the first sync's), the same with the bookkeeping (`..._write_units_ratio`), and the speed-up of the
parallel first load over the sequential one.

Exits non-zero when a promise is broken: a run did not store every relation WeCom lists (the app's count, and the
stored relations counted per employee on the employee index), marked any lost, the unchanged re-sync wrote more than
1 % of the first sync's items, the 1 % change more than 2 %, or the parallel load was under twice as fast.

    python bench/sync.py [--customers 50000] [--employees 200]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from chalicelib.services.sync import LANES
from chalicelib.store.customer_directory import CustomerDirectory
from local.environment import DemoEnvironment
from local.sync_demo import SyncFigures, run_sync, wecom_relations
from local.wecom_sim import Company

BASELINE_TENANT = "baseline"
DRIFT_SHARE = 0.01
UNCHANGED_MAX_RATIO = 0.01
CHANGED_MAX_RATIO = 0.02
SPEEDUP_MIN = 2.0


def figures_of(run: SyncFigures) -> dict[str, Any]:
    counts = run.counts
    return {
        "seconds": round(run.seconds, 1),
        "customers_per_second": round(run.customers_per_second, 1),
        "relations": run.relations,
        "unchanged": counts["unchanged"],
        "lost": counts["lost"],
        "items_read": counts["items_read"],
        "items_written": counts["items_written"],
        "run_writes": counts["run_writes"],
        "wecom_calls": run.wecom_calls_simulator,
        "relations_per_batch_call": round(run.relations_per_batch_call, 1),
        "pages": run.pages,
        "invocations": run.invocations,
        "lanes": counts["lanes"],
    }


def stored_relations(tenant_id: str, company: Company) -> int:
    """Active relations stored, counted per employee on the employee index."""
    return sum(CustomerDirectory(tenant_id).count_customers(company.active_userids()).values())


def ratio(part: float, whole: float) -> float:
    return round(part / whole, 5) if whole else float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--employees", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    broken: list[str] = []
    runs: dict[str, dict[str, Any]] = {}
    with DemoEnvironment(
        customers=args.customers, employees=args.employees, environment={"LOG_LEVEL": "WARNING"}
    ) as env:
        assert env.tenant is not None
        other = env.sim.add_company(employees=args.employees, customers=args.customers, name="Baseline Fruit Co.")
        env.provision_tenant(other, BASELINE_TENANT)

        def measure(name: str, tenant_id: str, company: Company, lanes: int) -> None:
            moto_before = env.stack.moto_cpu_seconds()
            run = run_sync(env, tenant_id, company, lanes)
            runs[name] = figures_of(run)
            moto_after = env.stack.moto_cpu_seconds()
            if moto_before is not None and moto_after is not None:
                runs[name]["moto_busy_share"] = ratio(moto_after - moto_before, run.seconds)
            expected = wecom_relations(env, company)
            stored = stored_relations(tenant_id, company)
            runs[name]["stored_relations"] = stored
            print(f"{name:<18} {json.dumps(runs[name])}", flush=True)
            if run.relations != expected or stored != expected:
                broken.append(f"{name}: {run.relations} relations synced, {stored} stored, WeCom lists {expected}")
            if run.counts["lost"]:
                broken.append(f"{name}: {run.counts['lost']} relations marked lost, none was")

        measure("sequential", BASELINE_TENANT, other, 1)
        measure("first_sync", env.tenant.tenant_id, env.company, LANES)
        measure("unchanged_resync", env.tenant.tenant_id, env.company, LANES)
        drift = httpx.post(
            f"{env.sim.base_url}/sim/drift", json={"corpid": env.company.corpid, "share": DRIFT_SHARE, "seed": 16}
        )
        changed = drift.raise_for_status().json()["changed"]
        measure("changed_1pct", env.tenant.tenant_id, env.company, LANES)
        runs["changed_1pct"]["customers_changed"] = changed
    first, unchanged, drifted = runs["first_sync"], runs["unchanged_resync"], runs["changed_1pct"]

    def units(run: dict[str, Any]) -> int:
        return run["items_written"] + run["run_writes"]

    result = {
        "customers": args.customers,
        "employees": args.employees,
        "lanes": LANES,
        "runs": runs,
        "sequential_customers_per_second": runs["sequential"]["customers_per_second"],
        "parallel_customers_per_second": first["customers_per_second"],
        "parallel_speedup": ratio(first["customers_per_second"], runs["sequential"]["customers_per_second"]),
        "first_sync_items_written_per_relation": ratio(first["items_written"], first["relations"]),
        "unchanged_resync_write_ratio": ratio(unchanged["items_written"], first["items_written"]),
        "changed_1pct_write_ratio": ratio(drifted["items_written"], first["items_written"]),
        "unchanged_resync_write_units_ratio": ratio(units(unchanged), units(first)),
        "changed_1pct_write_units_ratio": ratio(units(drifted), units(first)),
        "customers_changed": changed,
        "changed_relations_written": drifted["relations"] - drifted["unchanged"],
    }
    if result["unchanged_resync_write_ratio"] > UNCHANGED_MAX_RATIO:
        broken.append(f"the unchanged re-sync wrote {result['unchanged_resync_write_ratio']:.2%} of the first sync")
    if result["changed_1pct_write_ratio"] > CHANGED_MAX_RATIO:
        broken.append(f"the 1 % change wrote {result['changed_1pct_write_ratio']:.2%} of the first sync")
    if result["changed_relations_written"] != changed:
        broken.append(f"{changed} customers changed, {result['changed_relations_written']} relations written")
    if result["parallel_speedup"] < SPEEDUP_MIN:
        broken.append(f"the parallel load was {result['parallel_speedup']}x the sequential one, under {SPEEDUP_MIN}x")
    result["broken"] = broken
    for name, value in result.items():
        if not isinstance(value, dict | list):
            print(f"{name:<38} {value}")
    print(json.dumps(result, separators=(",", ":")))
    for problem in broken:
        print(f"BROKEN: {problem}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
