"""Benchmark: tracking beacons on the local stack — intake rate, open → alert delay, DynamoDB write units.

One fresh stack (simulator + API + workers) and its demo tenant; a link material shared by a few salespeople, one
of them for a mass message (a campaign). Then:

1. intake in-process: `accept_beacons` called in a loop by this one process (one API worker's work: parse, check,
   verify, queue), with anonymous viewers — events accepted per second;
2. intake on the stack: readers' batches posted to `/t/beacons` over HTTP by 8 clients — events accepted per
   second; identified customers' opens are alerted by the stack's workers, and the delay from each open's arrival
   to the textcard the simulator received is measured; one salesperson gets more opens in a minute than WeCom lets
   through (30/min), some customers open twice (de-bounced);
3. write units: the same kind of reading, replayed in this process with the page's real timing (an open sent at
   once, then a batch every 10 s while visible, then leave) into the workers' code, batches grouped as the BEACONS
   queue's window groups them, on a thread of this process, with the stack's workers stopped; every DynamoDB write
   it makes (alerts included) is counted in write units by `local.request_meter` (DynamoDB's sizing rules;
   conditional writes that fail count too). The naive baseline writes each accepted event as one
   item, measured the same way in the same run.

Prints progress, then ONE JSON line; exits 1 when a promise is broken: an alert lost (WeCom dropped one, or an
identified open neither alerted, de-bounced nor digested), write units above 0.2× the naive baseline, or the open →
alert p99 at 10 s or more.

    python bench/beacons.py            # 90 readers on the stack (+ 36 for one salesperson), 120 replayed
    python bench/beacons.py --small    # 20 (+ 33) and 40: for a loaded machine
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

import httpx  # noqa: E402

from local.request_meter import Meter  # noqa: E402

METER = Meter()
METER.install()


from chalicelib import resources  # noqa: E402
from chalicelib.domain import beacons, signed_tokens  # noqa: E402
from chalicelib.domain.signed_tokens import ViewerClaims  # noqa: E402
from chalicelib.services import beacon_intake, share_links  # noqa: E402
from chalicelib.services.beacon_ingest import Alerts, fold_batches  # noqa: E402
from chalicelib.store import tracking  # noqa: E402
from local.demo_tracking import card_customer  # noqa: E402
from local.environment import DemoEnvironment  # noqa: E402
from local.sync_demo import run_full_sync  # noqa: E402
from local.tracking_traffic import HEARTBEAT_MS, reading  # noqa: E402

SEED = 13
WINDOW_MS = resources.BEACONS.batching_window * 1000
WINDOW_MAX = resources.BEACONS.batch_size
TARGET_RATIO = 0.2
TARGET_ALERT_P99_S = 10.0
IN_PROCESS_BATCHES = 400
STACK_VIEWS = 90
BURST_OPENS = 36
REPLAY_VIEWS = 120
IDENTIFIED_SHARE = 0.6
PRICE_PER_MILLION_WRU_USD = 0.625


def viewer(tenant_id: str, customer: str) -> str:
    claims = ViewerClaims(tenant_id, f"o-{customer}", f"u-{customer}", customer, True, int(time.time()))
    return signed_tokens.sign(claims, share_links.share_keys_of(tenant_id))


def share(admin: httpx.Client, material_id: str, sharer: str, campaign: str = "") -> str:
    body = {"material_id": material_id, "sharer": sharer} | ({"campaign": campaign} if campaign else {})
    answer = admin.post("/v1/shares", json=body)
    answer.raise_for_status()
    return answer.json()["token"]


def intake_in_process(token: str) -> dict[str, Any]:
    """One API worker's intake work, in this process: parse, check, verify, queue."""
    rng = random.Random(SEED)
    now_ms = int(time.time() * 1000)
    bodies = []
    for n in range(IN_PROCESS_BATCHES):
        events = [
            {"seq": s, "type": "heartbeat", "at": now_ms - 60_000 + s * HEARTBEAT_MS, "visible_ms": HEARTBEAT_MS}
            for s in range(rng.randint(2, 4))
        ]
        bodies.append(json.dumps({"share": token, "session": f"inproc-{n:06d}", "events": events}).encode())
    accepted = 0
    started = time.perf_counter()
    for n, body in enumerate(bodies):
        accepted += beacon_intake.accept_beacons(body, None, f"10.0.{n % 250}.{n % 200}")["accepted"]
    seconds = time.perf_counter() - started
    return {"events": accepted, "seconds": round(seconds, 2), "events_per_second": round(accepted / seconds)}


def intake_on_stack(env: DemoEnvironment, tokens: dict[str, str], customers: list[str]) -> dict[str, Any]:
    """Readers posting to the stack; identified opens' arrival times, for the alert delay."""
    rng = random.Random(SEED + 1)
    tenant_id = env.tenant.tenant_id
    now_ms = int(time.time() * 1000)
    posts: list[tuple[str | None, dict[str, Any]]] = []
    sharers = sorted(tokens)
    burst_sharer = sharers[0]
    plays = [(burst_sharer, customers[n]) for n in range(BURST_OPENS)]
    for n in range(STACK_VIEWS):
        identified = rng.random() < IDENTIFIED_SHARE
        customer = rng.choice(customers[BURST_OPENS : BURST_OPENS + 30]) if identified else None
        plays.append((sharers[1 + n % (len(sharers) - 1)], customer))
    for n, (sharer, customer) in enumerate(plays):
        token = viewer(tenant_id, customer) if customer else ""
        for _sent, events in reading(rng, now_ms - 200_000):
            body = {"share": tokens[sharer], "session": f"stack-{n:06d}", "events": events}
            if token:
                body["viewer"] = token
            posts.append((customer if events[0]["type"] == "open" else None, body))
    opens = [p for p in posts if p[0]]
    rest = [p for p in posts if not p[0]]
    arrivals: dict[str, float] = {}
    accepted = Counter()
    lock = threading.Lock()
    origin = beacon_intake.origin_of(env.api_url)

    def post(item: tuple[str | None, dict[str, Any]]) -> None:
        customer, body = item
        with httpx.Client(base_url=env.api_url, timeout=30) as http:
            at = time.time()
            answer = http.post("/t/beacons", content=json.dumps(body), headers={"Origin": origin})
        answer.raise_for_status()
        with lock:
            accepted["events"] += answer.json()["accepted"]
            if customer:
                arrivals.setdefault(customer, at)

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(post, opens + rest))
    seconds = time.perf_counter() - started
    return {
        "events": accepted["events"],
        "seconds": round(seconds, 2),
        "events_per_second": round(accepted["events"] / seconds),
        "identified_opens": len(opens),
        "arrivals": arrivals,
    }


def wait_for_alerts(env: DemoEnvironment, admin: httpx.Client, sharers: list[str], expected: int) -> dict[str, int]:
    """Until every identified open is sent, de-bounced or digested, and every digest delivered (bounded)."""
    deadline = time.monotonic() + 150
    while True:
        totals: Counter[str] = Counter()
        for sharer in sharers:
            totals.update(admin.get(f"/v1/sales/{sharer}/stats").json()["day"]["alerts"])
        inbox = env.sim.stats(env.company.corpid, detail=True)["app_messages"]["inbox"]
        digest_lines = sum(
            int(card["title"].split(" ")[0]) for card in inbox if card.get("title", "").endswith("条客户动态")
        )
        done = sum(totals.values()) >= expected and digest_lines >= totals["digested"]
        if done or time.monotonic() > deadline:
            return dict(totals) | {"digest_lines_delivered": digest_lines}
        time.sleep(1)


def alert_delays(env: DemoEnvironment, arrivals: dict[str, float]) -> list[float]:
    inbox = env.sim.stats(env.company.corpid, detail=True)["app_messages"]["inbox"]
    first: dict[str, float] = {}
    now = time.time()
    for card in inbox:
        if card.get("title") != "客户动态" or "/sales/customers/" not in card.get("url", ""):
            continue
        customer = card_customer(card["url"], now)
        if customer in arrivals:
            first.setdefault(customer, card["received_at"])
    return sorted(first[c] - arrivals[c] for c in first)


def replay_units(tenant_id: str, token: str, campaign_token: str, customers: list[str]) -> dict[str, Any]:
    """Readings replayed into the workers' code with the page's timing; write units vs one write per event."""
    rng = random.Random(SEED + 2)
    now_ms = int(time.time() * 1000) - 3_600_000
    timeline: list[tuple[int, dict[str, Any]]] = []
    for n in range(REPLAY_VIEWS):
        customer = rng.choice(customers) if rng.random() < IDENTIFIED_SHARE else ""
        viewer_token = viewer(tenant_id, customer) if customer else ""
        link = campaign_token if n % 2 else token
        start = now_ms + rng.randint(0, 300_000)
        for sent_ms, events in reading(rng, start):
            body = {"share": link, "session": f"replay-{n:06d}", "events": events} | (
                {"viewer": viewer_token} if viewer_token else {}
            )
            timeline.append((sent_ms, body))
    timeline.sort(key=lambda t: t[0])
    claims = {t: share_links.open_share(t, time.time()) for t in (token, campaign_token)}
    messages: list[tuple[int, dict[str, Any]]] = []
    events_total = 0
    for sent_ms, body in timeline:
        checked = beacons.check_batch(body, sent_ms)
        c = claims[body["share"]]
        customer = body.get("viewer") and signed_tokens.verify_viewer(
            body["viewer"], share_links.share_keys_of, time.time()
        )
        events_total += len(checked.events)
        message = {
            "kind": "beacons",
            "tenant_id": tenant_id,
            "view_id": beacons.view_id(body["share"], body["session"]),
            "material_id": c.material_id,
            "sharer": c.sharer,
            "campaign": c.campaign,
            "session": body["session"],
            "customer": customer.external_userid if customer else "",
            "viewer_key": f"c:{customer.external_userid}" if customer else f"s:{body['session']}",
            "consented": bool(customer),
            "received_ms": sent_ms,
            "events": [[e.seq, e.type, e.at, e.visible_ms, e.depth, e.action] for e in checked.events],
        }
        messages.append((sent_ms, message))
    METER.reset()
    alerts = Alerts()
    window: list[dict[str, Any]] = []
    window_end = messages[0][0] + WINDOW_MS
    invocations = 0
    for sent_ms, message in messages:
        if sent_ms >= window_end or len(window) >= WINDOW_MAX:
            fold_batches(window)
            invocations += 1
            window, window_end = [], sent_ms + WINDOW_MS
        window.append(message)
        if message["customer"] and any(e[1] == beacons.OPEN for e in message["events"]):
            opened = {k: message[k] for k in ("tenant_id", "view_id", "material_id", "sharer", "customer")}
            alerts.handle({"kind": "open", **opened})
            alerts.flush()
    fold_batches(window)
    invocations += 1
    units = METER.snapshot()["wcu"]
    METER.reset()
    client = tracking.dynamodb()
    table = os.environ.get(resources.DATA.env_var) or resources.DATA.name
    for _sent, message in messages:
        for seq, kind, at, visible, depth, action in message["events"]:
            item = {
                "pk": {"S": f"{tenant_id}#naive#{message['view_id']}"},
                "sk": {"S": f"{seq:06d}"},
                "type": {"S": kind},
                "at": {"N": str(at)},
                "material_id": {"S": message["material_id"]},
                "sharer": {"S": message["sharer"]},
                "customer": {"S": message["customer"] or "-"},
            }
            item |= {"visible_ms": {"N": str(visible)}} if visible else {}
            item |= {"depth": {"N": str(depth)}} if depth else {}
            item |= {"action": {"S": action}} if action else {}
            client.put_item(TableName=table, Item=item)
    naive = METER.snapshot()["wcu"]
    return {
        "views": REPLAY_VIEWS,
        "batches": len(messages),
        "events": events_total,
        "invocations": invocations,
        "write_units": units,
        "naive_write_units": naive,
        "write_units_per_1000_events": round(units * 1000 / events_total, 1),
        "naive_write_units_per_1000_events": round(naive * 1000 / events_total, 1),
        "alert_outcomes": dict(alerts.outcomes),
    }


def main() -> dict[str, Any]:
    many_readers = {f"BEACON_LIMIT_{kind}_PER_MINUTE": "1000000" for kind in ("IP", "TOKEN", "SESSION")}
    os.environ.update(many_readers)
    with DemoEnvironment(
        employees=30, customers=400, access_log=False, isolated=False, environment=many_readers
    ) as env:
        assert env.tenant is not None
        tenant_id = env.tenant.tenant_id
        admin = env.admin()
        run_full_sync(env, show_progress=False)  # the tenant's employees and customers, as after its first sync
        material = admin.post(
            "/v1/materials", json={"type": "link", "title": "春季新品手册", "url": "https://shop.example.com/spring"}
        )
        material.raise_for_status()
        material_id = material.json()["material"]["material_id"]
        sharers = sorted(env.company.employees)[:4]
        tokens = {s: share(admin, material_id, s) for s in sharers}
        customers = sorted(env.company.book.customers)
        print("intake in-process…", file=sys.stderr)
        in_process = intake_in_process(tokens[sharers[-1]])
        print(f"  {in_process}", file=sys.stderr)
        print("intake on the stack…", file=sys.stderr)
        stack = intake_on_stack(env, tokens, customers)
        arrivals = stack.pop("arrivals")
        alerts = wait_for_alerts(env, admin, sharers, stack["identified_opens"])
        delays = alert_delays(env, arrivals)
        print(f"  {stack} alerts {alerts}", file=sys.stderr)
        print("write units, replayed with the page's timing…", file=sys.stderr)
        replay_sharer = sorted(env.company.employees)[5]
        links = (share(admin, material_id, replay_sharer), share(admin, material_id, replay_sharer, "bc-bench"))
        assert env.stack is not None
        assert env.stack.pump is not None
        env.stack.pump.stop()  # the replay's writes alone are metered
        with ThreadPoolExecutor(1) as measured:
            units = measured.submit(replay_units, tenant_id, *links, customers[200:260]).result()
        print(f"  {units}", file=sys.stderr)
        dropped = env.sim.stats(env.company.corpid)["app_messages"]["dropped"]
    accounted = alerts.get("sent", 0) + alerts.get("debounced", 0) + alerts.get("digested", 0)
    undelivered_digest = max(0, alerts.get("digested", 0) - alerts["digest_lines_delivered"])
    lost = dropped + max(0, stack["identified_opens"] - accounted) + undelivered_digest
    ratio = round(units["write_units"] / units["naive_write_units"], 3)
    p50 = round(statistics.median(delays), 2) if delays else None
    p99 = round(delays[min(len(delays) - 1, math.ceil(len(delays) * 0.99) - 1)], 2) if delays else None
    per_day = units["write_units_per_1000_events"] * 10_000
    broken = []
    if lost:
        broken.append(f"{lost} alerts lost")
    if ratio > TARGET_RATIO:
        broken.append(f"write units {ratio}x the naive baseline (> {TARGET_RATIO}x)")
    if p99 is None or p99 >= TARGET_ALERT_P99_S:
        broken.append(f"open → alert p99 {p99} s")
    return {
        "bench": "beacons",
        "events_per_second": stack["events_per_second"],
        "events_per_second_in_process": in_process["events_per_second"],
        "intake_in_process": in_process,
        "intake_on_stack": stack,
        "beacon_to_alert_p50_s": p50,
        "beacon_to_alert_p99_s": p99,
        "alerts": {
            "sent": alerts.get("sent", 0),
            "debounced": alerts.get("debounced", 0),
            "digested": alerts.get("digested", 0),
            "digest_lines_delivered": alerts["digest_lines_delivered"],
            "dropped_by_wecom_cap": dropped,
        },
        "alerts_lost": lost,
        "write_units": units,
        "write_units_ratio_to_naive": ratio,
        "write_units_per_day_for_10m_events": round(per_day),
        "usd_per_day_for_10m_events": round(per_day / 1e6 * PRICE_PER_MILLION_WRU_USD, 2),
        "target": {"write_units_ratio_to_naive": TARGET_RATIO, "alerts_lost": 0, "beacon_to_alert_p99_s": 10},
        "promises_broken": broken,
    }


if __name__ == "__main__":
    if "--small" in sys.argv:
        IN_PROCESS_BATCHES, STACK_VIEWS, BURST_OPENS, REPLAY_VIEWS = 100, 20, 33, 40
    figures = main()
    print(json.dumps(figures, ensure_ascii=False))
    if figures["promises_broken"]:
        print(f"beacons bench: {figures['promises_broken']}", file=sys.stderr)
        sys.exit(1)
