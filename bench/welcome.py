"""Benchmark: a burst of new friends on the local stack, and how fast their welcome messages reach WeCom.

`DemoEnvironment` starts the simulator, the local stack (moto server, Chalice API, the SQS pump running the app's own
handlers) and a demo tenant. A channel with a welcome message is created through the admin API, a full sync of the
tenant is started (when the sync worker is part of the app) so that bulk work competes with the burst, and the
simulator's emitter then delivers N signed `add_external_contact` callbacks spread over S seconds through that
channel's QR code. The delays are the SIMULATOR's: from the event it issued (and its WelcomeCode) to the
send_welcome_msg call it answered; a code never used within WeCom's 20 s counts as expired unused. Prints progress
lines, then ONE JSON line of figures.

    python bench/welcome.py [n] [seconds] [--no-sync]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from local.environment import DemoEnvironment  # noqa: E402

WELCOME_TTL_SECONDS = 20.0
EMPLOYEES = 200
CUSTOMERS = 10_000


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def start_sync(env: DemoEnvironment) -> str:
    """Start a full sync of the demo tenant, if the app has a sync worker; says what happened."""
    if "on_sync" not in env.stack.app.handler_map:
        return "no sync worker in the app: burst measured without a concurrent sync"
    from chalicelib.workers.sync import request_sync

    run = request_sync(env.tenant.tenant_id, "bench")
    return f"full sync started ({run.run_id})" if hasattr(run, "run_id") else "full sync started"


def main(n: int, seconds: float, with_sync: bool) -> dict:
    with DemoEnvironment(employees=EMPLOYEES, customers=CUSTOMERS) as env:
        with env.admin() as admin:
            created = admin.post(
                "/v1/channels",
                json={"name": "bench", "userids": ["emp00001", "emp00002", "emp00003"], "welcome_text": "欢迎光临"},
            )
        created.raise_for_status()
        state = created.json()["channel"]["state"]
        sync_note = start_sync(env) if with_sync else "sync not started (--no-sync)"
        print(sync_note, flush=True)
        started = time.monotonic()
        scenario = env.sim.emitter(env.company).new_friends(n, state=state, over_seconds=seconds)
        while not scenario.done:
            delivered = env.sim.stats(env.company.corpid)["welcome"]["delivered"]
            print(f"  t={time.monotonic() - started:5.1f}s callbacks={len(scenario.emitted)} welcomes={delivered}")
            time.sleep(5)
        scenario.wait()
        deadline = time.monotonic() + WELCOME_TTL_SECONDS + 5
        while time.monotonic() < deadline:
            if env.sim.stats(env.company.corpid)["welcome"]["delivered"] >= n:
                break
            time.sleep(0.5)
        time.sleep(max(0.0, WELCOME_TTL_SECONDS - (time.monotonic() - started - seconds)))
        stats = env.sim.stats(env.company.corpid, detail=True)
        with env.sim.lock:
            unused = sum(1 for code in env.company.welcome.codes.values() if not code.used)
        delays = stats["welcome"]["delays"]
        callbacks = stats["callbacks"]
        return {
            "bench": "welcome",
            "new_friends": n,
            "over_seconds": seconds,
            "concurrent_sync": sync_note.startswith("full sync started"),
            "callbacks_delivered": callbacks.get("delivered", 0),
            "callback_retries": callbacks.get("retried", 0),
            "welcomes_delivered": len(delays),
            "welcome_delay_p50_s": round(statistics.median(delays), 3) if delays else None,
            "welcome_delay_p99_s": round(percentile(delays, 0.99), 3) if delays else None,
            "welcome_delay_max_s": round(max(delays), 3) if delays else None,
            "welcome_codes_expired_unused": unused,
            "send_welcome_msg_codes": stats["codes"].get("externalcontact/send_welcome_msg", {}),
            "target": {"p99_s": 3.0, "expired_unused": 0},
        }


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(arguments[0]) if arguments else 1000
    span = float(arguments[1]) if len(arguments) > 1 else 60.0
    print(json.dumps(main(count, span, "--no-sync" not in sys.argv), ensure_ascii=False))
