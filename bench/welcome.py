"""Benchmark: bursts of new friends on the local stack while bulk work runs, and how fast their welcomes reach WeCom.

The shape is `make run`'s burst (`local.burst`): a channel with an auto-tag and a welcome message; the tenant's
customers in the store; then, together, a full re-sync of the tenant, a mass message to the most used tag being
planned and dispatched, and N signed add_external_contact callbacks spread over S seconds through the channel. Each
run starts a fresh stack. A quiet run (the smallest burst, no bulk work) is measured first in the same process as the
baseline the loaded runs are compared with, since these machines are shared and noisy.

Every figure is the simulator's: the delay from the event it issued (and its WelcomeCode) to the send_welcome_msg
it answered; a code not used inside WeCom's 20 s counts as expired; plus the simulator's own answer time over all
requests, which must stay in milliseconds for the stack's figures to be the stack's. Prints progress, then ONE JSON
line; exits 1 when a run broke a promise (a new friend not welcomed, a code expired) or missed the target
(p99 < 3 s).

    python bench/welcome.py                 # 300 in 18 s and 1,000 in 60 s, with the quiet baseline
    python bench/welcome.py 300 18          # one shape
    python bench/welcome.py 300 18 --quiet  # without the re-sync and the mass message
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from local.burst import WELCOME_TARGET_P99_SECONDS, open_burst_channel, play_burst, start_bulk_work  # noqa: E402
from local.environment import DemoEnvironment  # noqa: E402
from local.mass_message import seed_customers  # noqa: E402

EMPLOYEES = 200
CUSTOMERS = 10_000
SHAPES = ((300, 18.0), (1000, 60.0))


def run_burst(n: int, seconds: float, *, bulk: bool) -> dict[str, Any]:
    """One fresh stack, one burst; its figures and the promises it broke."""
    with DemoEnvironment(employees=EMPLOYEES, customers=CUSTOMERS, access_log=False) as env:
        assert env.tenant is not None
        seeded = seed_customers(env.tenant.tenant_id, env.company)
        channel = open_burst_channel(env, "bench_burst", "bench")
        if bulk:
            start_bulk_work(env)
        started = time.monotonic()
        burst = play_burst(env, channel["state"], n, seconds, progress=False)
        figures = burst.figures()
        p99 = figures["welcome_delay_p99_s"]
        missed = [] if p99 is not None and p99 < WELCOME_TARGET_P99_SECONDS else [f"p99 {p99} s ≥ 3 s"]
        result = {
            **figures,
            "bulk_work": ["full re-sync", "mass message planned and dispatched"] if bulk else [],
            "customers_in_store": seeded.relations,
            "burst_wall_seconds": round(time.monotonic() - started, 1),
            "wecom_simulator_answer": env.sim.answer_times(),
            "promises_broken": burst.promises_broken(),
            "targets_missed": missed,
        }
    print(f"  {n} in {seconds:g} s{' + bulk' if bulk else ' quiet'}: {json.dumps(result, ensure_ascii=False)}")
    return result


def main(shapes: tuple[tuple[int, float], ...], bulk: bool) -> dict[str, Any]:
    baseline_n, baseline_seconds = min(shapes)
    baseline = run_burst(baseline_n, baseline_seconds, bulk=False)
    runs = {f"{n}_in_{seconds:g}s": run_burst(n, seconds, bulk=bulk) for n, seconds in shapes} if bulk else {}

    def ratio(run: dict[str, Any]) -> float | None:
        quiet, loaded = baseline["welcome_delay_p99_s"], run["welcome_delay_p99_s"]
        return round(loaded / quiet, 2) if quiet and loaded is not None else None

    return {
        "bench": "welcome",
        "employees": EMPLOYEES,
        "customers": CUSTOMERS,
        "quiet_baseline": baseline,
        "runs": runs,
        "p99_vs_quiet": {name: ratio(run) for name, run in runs.items()},
        "target": {"p99_s": WELCOME_TARGET_P99_SECONDS, "welcome_codes_expired": 0},
        "promises_broken": [f"{name}: {b}" for name, run in runs.items() for b in run["promises_broken"]]
        + [f"quiet: {b}" for b in baseline["promises_broken"]],
        "targets_missed": [f"{name}: {m}" for name, run in runs.items() for m in run["targets_missed"]],
    }


if __name__ == "__main__":
    numbers = [a for a in sys.argv[1:] if not a.startswith("--")]
    chosen = ((int(numbers[0]), float(numbers[1]) if len(numbers) > 1 else 18.0),) if numbers else SHAPES
    figures = main(chosen, bulk="--quiet" not in sys.argv)
    print(json.dumps(figures, ensure_ascii=False))
    if figures["promises_broken"] or figures["targets_missed"]:
        print(f"welcome bench: {figures['promises_broken'] + figures['targets_missed']}", file=sys.stderr)
        sys.exit(1)
