"""Benchmark: one mass message by tag on the local stack (moto server + pump + WeCom simulator), with faults.

    python bench/broadcast.py [--customers 100000] [--employees 200] [--share 0.6] [--sim-per-minute 20]
                              [--runs documented,baseline,one_shard,matched]

The simulator generates the company; an admin's tag is put on `share` of its customers; the tenant's store is seeded
from the company with the customer store's bulk writer (timed). Then two broadcasts to the tagged customers, each
planned and dispatched by the app's own SQS handlers through the pump, with 5% -1 answers and 1% responses lost after
the task was created on add_msg_template, the simulator letting `sim-per-minute` add_msg_template calls through per
minute (20 by default: below the rate at which the local stack's planner closes batches, `plan_batches_per_minute`,
so dispatch has to wait for WeCom's limit; a limit above that rate would never bind), and two dispatch workers killed
mid-batch (one after its claim, one after WeCom created the task and before it was recorded; both holding the batch's
60 s lease):

- `documented_buckets`: the shared token buckets at WeCom's documented limits (the simulator is stricter, so WeCom
  answers 45009 and batches are retried after the block);
- `baseline_one_shard`: buckets matched to the simulator, planning as before this wave's change: one shard
  (`PLAN_SHARDS=1`, one page after another) and one UpdateItem per receipt (`RECEIPT_WRITES=updates`), the baseline
  for the other runs' plan time;
- `one_shard` (only when asked for): one shard with the receipts in transactions of 100, to tell what the shards add
  from what the receipt transactions add;
- `matched_buckets`: WECOM_LIMIT_CORP_PER_MINUTE/_PER_HOUR set to the simulator's limits.

`documented` and `matched` plan in parallel shards (`PLAN_SHARDS`, 16 by default) with the receipts in transactions
(the default). `planning` in the JSON line holds the baseline's plan time against the matched run's (the speedup,
target >= 3; with `one_shard`, also the part of it each change makes), the shards and the peak number of plan
invocations running at once, the planning's own request units per 1,000 recipients and its DynamoDB requests per page
of audience rows (what the AWS-side model in README's cost section starts from), and whether both plans reached the
same recipients, senders and batches. The bench exits 1 when a run duplicated or missed a recipient or the two plans
differ.

After each dispatch the simulated senders confirm (the simulator clock jumps past its confirmation delay) and what
WeCom received is read from the simulator. Following results is not part of the bench (the e2e tests cover it): the
broadcast's follow timer is removed so its passes do not mix into the next run's figures.

DynamoDB capacity: moto does not return ConsumedCapacity, so every DynamoDB request the workers make (pump threads
and the killed workers; not this script's own polling) is seen through botocore's event system
(`before-parameter-build` / `after-call` on every client created in the process) and sized by DynamoDB's rules:
reads 4 KB units per item (GetItem, BatchGetItem) or per request's total (Query), halved unless strongly consistent,
at least one unit; writes 1 KB units per item (PutItem, BatchWriteItem puts), doubled in transactions; an UpdateItem
or DeleteItem is sized by the largest size seen for that key in this run (read or written), else by the values it
writes. SQS requests are counted per operation the same way; Lambda invocations from the pump's handler stats. The units
and requests of planning alone are those made on the plan handler's threads and the receipt writers it starts.

Prints progress on stderr, then ONE JSON line of figures on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


ADD = "externalcontact/add_msg_template"
MAX_PER_TASK = 10_000
PLAN_THREADS = ("pump-plan_broadcast", "set-add")
"""Names of the threads planning runs on: the pump's for the plan handler, and the receipt writers it starts."""
PLAN_SPEEDUP_TARGET = 3.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


from local.request_meter import Meter  # noqa: E402

METER = Meter(part_threads=PLAN_THREADS)
METER.install()

from chalicelib.domain.broadcasts import Status  # noqa: E402
from chalicelib.domain.wecom_limits import MSG_TEMPLATE_MAX_EXTERNAL_USERIDS  # noqa: E402
from chalicelib.services.broadcasts import create_broadcast, start_broadcast  # noqa: E402
from chalicelib.store.broadcast_timers import due_timers, minute_bucket, remove_timer  # noqa: E402
from chalicelib.store.broadcasts import BroadcastStore  # noqa: E402
from local.environment import DemoEnvironment  # noqa: E402
from local.mass_message import WorkerKiller, seed_customers, tag_share, wait_dispatched, wecom_view  # noqa: E402
from local.wecom_sim import SimConfig  # noqa: E402

assert MSG_TEMPLATE_MAX_EXTERNAL_USERIDS == MAX_PER_TASK


def drop_follow_timer(tenant_id: str, broadcast_id: str) -> int:
    """Remove the broadcast's pending follow timer (results following is outside the bench)."""
    now = time.time()
    removed = 0
    for timer in due_timers(minute_bucket(now + 60 * m) for m in range(-2, 6)):
        if timer.tenant_id == tenant_id and timer.broadcast_id == broadcast_id:
            remove_timer(timer)
            removed += 1
    return removed


def diff_codes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for api, codes in after["codes"].items():
        old = before["codes"].get(api, {})
        changed = {c: n - old.get(c, 0) for c, n in codes.items() if n - old.get(c, 0)}
        if changed:
            out[api] = changed
    return out


def handler_invocations(env: DemoEnvironment) -> dict[str, int]:
    assert env.stack is not None
    assert env.stack.pump is not None
    return {name: s.invocations for name, s in env.stack.pump.stats.items()}


def reset_peak(env: DemoEnvironment, handler: str) -> None:
    """Start counting a handler's peak concurrency afresh (from what is running now)."""
    assert env.stack is not None
    assert env.stack.pump is not None
    stats = env.stack.pump.stats[handler]
    with stats.lock:
        stats.peak_concurrency = stats.in_flight


def run_broadcast(
    env: DemoEnvironment, tag: str, name: str, timeout: float, shards: int, receipt_writes: str = "transactions"
) -> dict[str, Any]:
    """One broadcast to the tagged customers, planned in at most `shards` shards with receipts written as
    `receipt_writes` says, and dispatched through the pump, two workers killed."""
    assert env.tenant is not None
    assert env.stack is not None
    assert env.stack.pump is not None
    os.environ["PLAN_SHARDS"] = str(shards)
    os.environ["RECEIPT_WRITES"] = receipt_writes
    tenant = env.tenant.tenant_id
    corpid = env.company.corpid
    text = f"bench {name} {int(time.time())}"
    before = env.sim.stats(corpid)
    invocations_before = handler_invocations(env)
    broadcast = create_broadcast(tenant, content={"text": {"content": text}}, audience={"tags": [tag]})
    killer = WorkerKiller(tenant, broadcast.broadcast_id, poll_seconds=30.0)
    killing = killer.kill_concurrently(("claimed", "called"), timeout=timeout)
    METER.reset()
    reset_peak(env, "plan_broadcast")
    started = time.monotonic()
    start_broadcast(tenant, broadcast.broadcast_id)
    marks: dict[str, float] = {}

    def progress(b: Any, final: int) -> None:
        if b.status != Status.PLANNING and "planned" not in marks:
            marks["planned"] = time.monotonic()
        log(f"{name}: {b.status} recipients={b.counts.get('recipients', 0)} batches {final}/{b.counts.get('batches')}")

    dispatched = wait_dispatched(tenant, broadcast.broadcast_id, timeout=timeout, poll=10.0, on_progress=progress)
    finished = time.monotonic()
    units = METER.snapshot()
    killing.join()
    invocations = {k: v - invocations_before.get(k, 0) for k, v in handler_invocations(env).items()}
    drop_follow_timer(tenant, broadcast.broadcast_id)

    store = BroadcastStore(tenant)
    plan_shards = store.plan_shards(broadcast.broadcast_id)
    plan_pages = sum(s.page for s in plan_shards)
    batches = store.batches(broadcast.broadcast_id).items
    planned_by_sender: Counter[str] = Counter()
    planned: set[str] = set()
    for batch in batches:
        recipients = store.recipients(broadcast.broadcast_id, batch)
        planned_by_sender[batch.sender] += len(recipients)
        planned.update(recipients)
    created = wecom_view(env.sim, env.company, text)
    env.sim.clock.advance(env.sim.config.confirm_delay + 1)
    delivered_view = wecom_view(env.sim, env.company, text)
    after = env.sim.stats(corpid, detail=True)
    codes = diff_codes(before, after)
    received_before = before["mass_received"]["total"]
    add_codes = codes.get(ADD, {})
    api_calls = sum(add_codes.values())
    min_api_calls = sum(math.ceil(n / MAX_PER_TASK) for n in planned_by_sender.values())
    busy, throttled = add_codes.get("-1", 0), add_codes.get("45009", 0) + add_codes.get("45033", 0)
    recipients = len(planned)
    per_1k = 1000 / recipients if recipients else 0.0
    return {
        "status": dispatched.status,
        "recipients_planned": recipients,
        "recipients_delivered": after["mass_received"]["total"] - received_before,
        "delivered_statuses": {str(k): v for k, v in sorted(delivered_view.statuses.items())},
        "duplicates": created.duplicates,
        "missing": len(planned - set(created.tasks_per_customer)),
        "senders": len(planned_by_sender),
        "batches": len(batches),
        "batches_per_sender": dict(sorted(Counter(b.sender for b in batches).items())),
        "batches_failed": dispatched.counts.get("batches_failed", 0),
        "api_calls": api_calls,
        "api_calls_by_code": add_codes,
        "min_api_calls": min_api_calls,
        "api_calls_beyond_min_not_forced_by_faults": api_calls - min_api_calls - busy - throttled,
        "lost_responses": after["faults"].get("lost", 0) - before["faults"].get("lost", 0),
        "workers_killed": sorted(k.point for k in killer.kills),
        "rate_limit_rejections": sum(c.get("45009", 0) for c in codes.values()),
        "rate_limit_rejections_add_msg_template": add_codes.get("45009", 0),
        "wecom_calls_by_api": {api: sum(c.values()) for api, c in codes.items()},
        "plan_seconds": round(marks.get("planned", finished) - started, 1),
        "plan_shards": len(plan_shards),
        "plan_pages": plan_pages,
        "plan_peak_concurrency": env.stack.pump.stats["plan_broadcast"].peak_concurrency,
        "plan_dynamodb_rcu_per_1k": round(units["part_rcu"] * per_1k, 1),
        "plan_dynamodb_wcu_per_1k": round(units["part_wcu"] * per_1k, 1),
        "plan_dynamodb_requests": units["part_dynamodb_requests"],
        "plan_dynamodb_rcu_by_op": units["part_rcu_by_op"],
        "plan_dynamodb_requests_per_page": {
            op: round(n / max(plan_pages, 1), 1) for op, n in sorted(units["part_dynamodb_requests"].items())
        },
        "plan_batches_per_minute": round(len(batches) * 60 / max(marks.get("planned", finished) - started, 1e-9), 1),
        "dispatch_seconds": round(finished - marks.get("planned", finished), 1),
        "dynamodb_rcu": round(units["rcu"], 1),
        "dynamodb_wcu": round(units["wcu"], 1),
        "dynamodb_rcu_per_1k": round(units["rcu"] * per_1k, 1),
        "dynamodb_wcu_per_1k": round(units["wcu"] * per_1k, 1),
        "dynamodb_requests": units["dynamodb_requests"],
        "sqs_requests": units["sqs_requests"],
        "sqs_messages_sent": units["sqs_messages_sent"],
        "lambda_invocations": {k: v for k, v in invocations.items() if v},
    }


def per_million(run: dict[str, Any]) -> dict[str, Any]:
    """Request units, Lambda invocations and SQS figures scaled to 1,000,000 recipients."""
    scale = 1_000_000 / run["recipients_planned"]
    plan_dispatch = {
        k: v for k, v in run["lambda_invocations"].items() if k in ("plan_broadcast", "dispatch_broadcast")
    }
    return {
        "dynamodb_rcu": round(run["dynamodb_rcu"] * scale),
        "dynamodb_wcu": round(run["dynamodb_wcu"] * scale),
        "lambda_invocations": {k: round(v * scale) for k, v in plan_dispatch.items()},
        "sqs_messages_sent": round(run["sqs_messages_sent"] * scale),
        "sqs_requests_by_handlers": round(
            sum(n for op, n in run["sqs_requests"].items() if op != "ReceiveMessage") * scale
        ),
    }


def planning_figures(
    baseline: dict[str, Any], parallel: dict[str, Any], one_shard: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Parallel planning against the baseline (one shard, one UpdateItem per receipt) measured in the same run; with
    `one_shard` (one shard, receipts in transactions), what each of the two changes contributes."""
    speedup = baseline["plan_seconds"] / max(parallel["plan_seconds"], 1e-9)
    keys = ("recipients_planned", "senders", "batches", "batches_per_sender")
    parts = {}
    if one_shard is not None:
        parts = {
            "one_shard_plan_seconds": one_shard["plan_seconds"],
            "speedup_from_receipt_transactions": round(
                baseline["plan_seconds"] / max(one_shard["plan_seconds"], 1e-9), 2
            ),
            "speedup_from_shards": round(one_shard["plan_seconds"] / max(parallel["plan_seconds"], 1e-9), 2),
            "one_shard_same_plan": all(baseline[k] == one_shard[k] for k in keys),
        }
    return {
        "baseline_plan_seconds": baseline["plan_seconds"],
        "parallel_plan_seconds": parallel["plan_seconds"],
        **parts,
        "speedup": round(speedup, 2),
        "speedup_target": PLAN_SPEEDUP_TARGET,
        "meets_speedup_target": speedup >= PLAN_SPEEDUP_TARGET,
        "shards": {"baseline": baseline["plan_shards"], "parallel": parallel["plan_shards"]},
        "peak_plan_invocations": {
            "baseline": baseline["plan_peak_concurrency"],
            "parallel": parallel["plan_peak_concurrency"],
        },
        "plan_invocations": {
            "baseline": baseline["lambda_invocations"].get("plan_broadcast", 0),
            "parallel": parallel["lambda_invocations"].get("plan_broadcast", 0),
        },
        "plan_rcu_per_1k": {
            "baseline": baseline["plan_dynamodb_rcu_per_1k"],
            "parallel": parallel["plan_dynamodb_rcu_per_1k"],
        },
        "plan_wcu_per_1k": {
            "baseline": baseline["plan_dynamodb_wcu_per_1k"],
            "parallel": parallel["plan_dynamodb_wcu_per_1k"],
        },
        "rcu_per_1k": {"baseline": baseline["dynamodb_rcu_per_1k"], "parallel": parallel["dynamodb_rcu_per_1k"]},
        "wcu_per_1k": {"baseline": baseline["dynamodb_wcu_per_1k"], "parallel": parallel["dynamodb_wcu_per_1k"]},
        "plan_requests_per_page": {
            "baseline": baseline["plan_dynamodb_requests_per_page"],
            "parallel": parallel["plan_dynamodb_requests_per_page"],
        },
        "same_plan": all(baseline[k] == parallel[k] for k in keys),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--employees", type=int, default=200)
    parser.add_argument("--share", type=float, default=0.6, help="share of customers carrying the audience's tag")
    parser.add_argument("--sim-per-minute", type=int, default=20, help="add_msg_template calls WeCom allows a minute")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed for one broadcast")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shards", type=int, default=16, help="planning shards of the parallel runs (PLAN_SHARDS)")
    parser.add_argument(
        "--runs",
        type=lambda v: set(v.split(",")),
        default={"documented", "baseline", "matched"},
        help="which broadcasts to run: documented,baseline,one_shard,matched (all but one_shard by default)",
    )
    args = parser.parse_args()

    config = SimConfig(
        seed=args.seed,
        fault_error_share=0.05,
        fault_lost_share=0.01,
        fault_paths=frozenset({ADD}),
        corp_api_per_minute=args.sim_per_minute,
        confirm_delay=60,
        dispatch_seconds=1,
    )
    figures: dict[str, Any] = {"customers": args.customers, "employees": args.employees}
    started = time.monotonic()
    env = DemoEnvironment(
        employees=args.employees,
        customers=args.customers,
        sim_config=config,
        environment={"WECOM_TIMEOUT_SECONDS": "3"},
        access_log=False,
        # The meter counts request units through botocore's events in this process, so the handlers run here.
        isolated=False,
    )
    figures["generate_and_start_seconds"] = None
    try:
        env.start()
        assert env.tenant is not None
        figures["generate_and_start_seconds"] = round(time.monotonic() - started, 1)
        tag, tagged = tag_share(env.sim, env.company, args.share)
        figures["customers_tagged"] = tagged
        log(f"stack up; seeding {args.customers} customers ({tagged} tagged)")
        done = [0]

        def seeded(n: int) -> None:
            done[0] += n
            if done[0] // 20_000 != (done[0] - n) // 20_000:
                log(f"seeded {done[0]} relations")

        seed = seed_customers(env.tenant.tenant_id, env.company, progress=seeded)
        figures["seed"] = {
            "relations": seed.relations,
            "items": seed.items,
            "requests": seed.requests,
            "seconds": round(seed.seconds, 1),
            "items_per_second": round(seed.items_per_second),
        }
        log(f"seeded: {figures['seed']}")
        runs: dict[str, dict[str, Any]] = {}
        if "documented" in args.runs:
            runs["documented_buckets"] = run_broadcast(env, tag, "documented_buckets", args.timeout, args.shards)
            log(f"documented_buckets: {json.dumps(runs['documented_buckets'])}")
        os.environ["WECOM_LIMIT_CORP_PER_MINUTE"] = str(config.corp_api_per_minute)
        os.environ["WECOM_LIMIT_CORP_PER_HOUR"] = str(config.corp_api_per_hour)
        if "baseline" in args.runs:
            runs["baseline_one_shard"] = run_broadcast(env, tag, "baseline_one_shard", args.timeout, 1, "updates")
            log(f"baseline_one_shard: {json.dumps(runs['baseline_one_shard'])}")
        if "one_shard" in args.runs:
            runs["one_shard_transactions"] = run_broadcast(env, tag, "one_shard_transactions", args.timeout, 1)
            log(f"one_shard_transactions: {json.dumps(runs['one_shard_transactions'])}")
        if "matched" in args.runs:
            runs["matched_buckets"] = run_broadcast(env, tag, "matched_buckets", args.timeout, args.shards)
            log(f"matched_buckets: {json.dumps(runs['matched_buckets'])}")
    finally:
        env.stop()
    figures["sim_add_msg_template_per_minute"] = args.sim_per_minute
    figures.update({k: v for k, v in next(iter(runs.values())).items() if not isinstance(v, dict)})
    figures.update(runs)
    if "matched_buckets" in runs:
        figures["rate_limit_rejections_matched_buckets"] = runs["matched_buckets"]["rate_limit_rejections"]
    parallel = runs.get("matched_buckets") or runs.get("documented_buckets")
    figures["per_million_recipients"] = per_million(parallel or runs["baseline_one_shard"])
    broken = [name for name, run in runs.items() if run["duplicates"] or run["missing"]]
    if parallel and "baseline_one_shard" in runs:
        figures["planning"] = planning_figures(runs["baseline_one_shard"], parallel, runs.get("one_shard_transactions"))
        if not figures["planning"]["same_plan"] or not figures["planning"].get("one_shard_same_plan", True):
            broken.append("planning")
    figures["total_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures, ensure_ascii=False))
    if broken:
        log(
            f"BROKEN PROMISE: {broken} (duplicates, missing recipients, or parallel planning differs from the baseline)"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
