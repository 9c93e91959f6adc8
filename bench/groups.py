"""Benchmark: the group-chat sync of one tenant on the local stack (moto server, pump, simulator).

`local.environment.DemoEnvironment` builds a simulated company with `--groups` customer groups of exactly
`--members` members each (default 10,000 groups of 50); `POST /v1/groups/sync` starts the run and the pump drives
the sync queue's handler, continuations included. Then a second run over the unchanged groups (the nightly
incremental sync) is the baseline measured in the same run: it reads as much from WeCom and must write nothing.

Figures: wall time of each run, WeCom calls per group (groupchat/list pages of 1,000 + one groupchat/get per group,
as the simulator counted them), DynamoDB writes per member (member items, chat profiles and daily figure cells, as
the sync counted them). Every group and member is then checked in the store (BatchGet of the profiles, a Query of
each group's members). Exit status 1, loudly, when a group or a member is missing, when the first run makes more
than 1.01 WeCom calls per group or more than 1.1 writes per member, or when the unchanged run writes anything.
Prints a line per measurement, then ONE JSON line of figures.

    python bench/groups.py [--groups 10000] [--members 50]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from chalicelib.store.groups import GroupStore
from local.demo_groups import sync_groups
from local.environment import DemoEnvironment

MAX_CALLS_PER_GROUP = 1.01
MAX_WRITES_PER_MEMBER = 1.1
CHECK_WORKERS = 8


def timed_sync(env: DemoEnvironment) -> tuple[float, dict, dict[str, int]]:
    before = env.sim.stats(env.company.corpid)["calls"]
    started = time.perf_counter()
    with env.admin() as admin:
        counts = sync_groups(env, admin)
    seconds = time.perf_counter() - started
    after = env.sim.stats(env.company.corpid)["calls"]
    made = {api: n - before.get(api, 0) for api, n in after.items() if api != "gettoken" and n > before.get(api, 0)}
    return seconds, counts, made


def missing_in_store(env: DemoEnvironment) -> tuple[int, int]:
    """Groups and members of the simulated company that the store does not hold."""
    assert env.tenant is not None
    groups = GroupStore(env.tenant.tenant_id)
    chats = env.company.chats
    stored = groups.get_chats(chats)
    missing_groups = sum(1 for c in chats if c not in stored)

    def missing_members(chat_id: str) -> int:
        held = {m.userid for m in groups.members(chat_id)}
        return sum(1 for m in chats[chat_id].members if m.userid not in held)

    with ThreadPoolExecutor(CHECK_WORKERS) as pool:
        return missing_groups, sum(pool.map(missing_members, list(chats)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--employees", type=int, default=200)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    with DemoEnvironment(
        employees=args.employees,
        customers=args.customers,
        group_chats=args.groups,
        group_members=args.members,
        environment={"LOG_LEVEL": "WARNING"},
        access_log=False,
    ) as env:
        members = sum(len(c.members) for c in env.company.chats.values())
        seconds, counts, calls = timed_sync(env)
        again_seconds, again, again_calls = timed_sync(env)
        missing_groups, missing_members = missing_in_store(env)
    groups = args.groups
    result = {
        "groups": groups,
        "members": members,
        "seconds": round(seconds, 1),
        "groups_per_second": round(groups / seconds, 1),
        "members_per_second": round(members / seconds, 1),
        "wecom_calls_per_group": round(sum(calls.values()) / groups, 4),
        "wecom_calls_by_api": calls,
        "dynamodb_writes_per_member": round(counts["item_writes"] / members, 3),
        "dynamodb_writes": counts["item_writes"],
        "invocations": counts["invocations"],
        "unchanged_run_seconds": round(again_seconds, 1),
        "unchanged_run_writes": again["item_writes"],
        "unchanged_run_wecom_calls_per_group": round(sum(again_calls.values()) / groups, 4),
        "missing_groups": missing_groups,
        "missing_members": missing_members,
    }
    broken = []
    if missing_groups or missing_members:
        broken.append(f"{missing_groups} groups and {missing_members} members missing from the store")
    if result["wecom_calls_per_group"] > MAX_CALLS_PER_GROUP:
        broken.append(f"{result['wecom_calls_per_group']} WeCom calls per group (at most {MAX_CALLS_PER_GROUP})")
    if result["dynamodb_writes_per_member"] > MAX_WRITES_PER_MEMBER:
        broken.append(f"{result['dynamodb_writes_per_member']} writes per member (at most {MAX_WRITES_PER_MEMBER})")
    if again["item_writes"]:
        broken.append(f"the unchanged run wrote {again['item_writes']} items")
    for name, value in result.items():
        if not isinstance(value, dict):
            print(f"{name:<36} {value}")
    for line in broken:
        print(f"!! PROMISE BROKEN: {line}", file=sys.stderr)
    print(json.dumps({**result, "promises_broken": broken}, separators=(",", ":"), ensure_ascii=False))
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
