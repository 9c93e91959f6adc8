"""Benchmark: the full customer sync of one tenant on the local stack (moto server, pump, simulator).

`local.environment.DemoEnvironment` builds a simulated company (default 50,000 customers, 200 employees) and the demo
tenant; `POST /v1/sync` starts the run and the pump drives the sync queue's handler, continuations included, with the
function timeout of `.chalice/config.json`. Figures: customers per second end to end (start request to run done),
relations per `externalcontact/batch/get_by_user` call (WeCom's page size, 100, is the ceiling), WeCom calls by API
as the simulator counted them, and the number of invocations. What bounds the figure is DynamoDB: each relation
costs its relation item, one tag-membership item per tag plus one for everyone, a card, a profile and one or two
find items, all through BatchWriteItem, which moto serves at roughly 4,500 to 6,500 items per second here.
Prints a line per measurement, then ONE JSON line of figures.

    python bench/sync.py [--customers 50000] [--employees 200]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from local.environment import DemoEnvironment
from local.sync_demo import run_full_sync


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--employees", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    with DemoEnvironment(
        customers=args.customers, employees=args.employees, environment={"LOG_LEVEL": "WARNING"}
    ) as env:
        figures = run_full_sync(env, show_progress=False)
        calls = env.sim.stats(env.company.corpid)["calls"]
    result = {
        "customers": figures.customers,
        "relations": figures.relations,
        "seconds": round(figures.seconds, 1),
        "customers_per_second": round(figures.customers_per_second, 1),
        "relations_per_second": round(figures.relations / figures.seconds, 1),
        "relations_per_batch_call": round(figures.relations_per_batch_call, 1),
        "batch_page_ceiling": 100,
        "wecom_calls": figures.wecom_calls_simulator,
        "wecom_calls_by_api": {api: n for api, n in sorted(calls.items()) if api != "gettoken"},
        "pages": figures.pages,
        "invocations": figures.invocations,
    }
    for name, value in result.items():
        if not isinstance(value, dict):
            print(f"{name:<28} {value}")
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
