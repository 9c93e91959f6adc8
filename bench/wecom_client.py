"""Read throughput of our WeCom client against wechatpy's, on the WeCom simulator, in the same run.

The workload is what the customer sync does: every customer of 200 employees through
`externalcontact/batch/get_by_user`, page by page with cursors (limit 100). Ours runs as the workers use it: one
`WeComClient`, a pool of 8 threads over userid_list chunks (inside the simulator's per-API concurrency cap of 10).
wechatpy runs the usual way: its enterprise client, sequential, its own requests session, userid_list chunks of 100.
The simulator runs in a child process (so it does not share the client's interpreter) and answers after a fixed
latency standing in for the network round trip to WeCom. 45009/45033 answers are counted from the simulator's own
statistics; a throttled page is retried after a pause so both runs fetch everything.

Usage: python bench/wecom_client.py [--customers 20000] [--latency-ms 40] [--threads 8]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.config import get_settings
from chalicelib.domain.credentials import AppCredentials
from chalicelib.domain.wecom_limits import (
    BATCH_GET_BY_USER_MAX_LIMIT,
    BATCH_GET_BY_USER_MAX_USERIDS,
    chunked,
)
from chalicelib.observability import logger
from chalicelib.wecom.access_token import AccessTokens, InMemoryTokenStore
from chalicelib.wecom.client import WeComClient
from chalicelib.wecom.errors import ConcurrencyLimited, RateLimited

API = "externalcontact/batch/get_by_user"
THROTTLED = ("45009", "45033")
THROTTLE_PAUSE_SECONDS = 1.0


def _serve(customers: int, latency_ms: float, ready: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from local.wecom_sim import SimConfig, Simulator

    sim = Simulator(SimConfig(seed=7, fault_latency_real_ms=latency_ms))
    company = sim.add_company(employees=200, customers=customers)
    base_url = sim.start(port=0)
    ready.put((base_url, company.corpid, company.agent_id, company.secret, sorted(company.active_userids())))
    stop.wait()
    sim.stop()


def throttled_answers(base_url: str, corpid: str) -> int:
    """45009 + 45033 answers the simulator has given so far, all APIs."""
    stats = httpx.get(f"{base_url}/sim/stats", params={"corpid": corpid}).json()
    return sum(codes.get(code, 0) for codes in stats["codes"].values() for code in THROTTLED)


Page = Callable[[dict], dict]


def read_chunk(call_page: Page, userids: Sequence[str], is_throttle: Callable[[Exception], bool]) -> tuple[int, int]:
    """Every follow record of `userids`, page by page; returns (calls, records)."""
    calls = records = 0
    cursor = ""
    while True:
        body: dict = {"userid_list": list(userids), "limit": BATCH_GET_BY_USER_MAX_LIMIT}
        if cursor:
            body["cursor"] = cursor
        calls += 1
        try:
            answer = call_page(body)
        except Exception as error:
            if not is_throttle(error):
                raise
            time.sleep(THROTTLE_PAUSE_SECONDS)
            continue
        records += len(answer["external_contact_list"])
        cursor = answer.get("next_cursor") or ""
        if not cursor:
            return calls, records


def run_ours(base_url: str, credentials: AppCredentials, userids: list[str], threads: int) -> tuple[int, int]:
    client = WeComClient(credentials, AccessTokens(InMemoryTokenStore()), get_settings({"WECOM_BASE_URL": base_url}))
    per_thread = max(1, -(-len(userids) // threads))
    chunks = list(chunked(userids, min(per_thread, BATCH_GET_BY_USER_MAX_USERIDS)))

    def page(body: dict) -> dict:
        return client.post(API, body, retry_safe=True)

    def is_throttle(error: Exception) -> bool:
        return isinstance(error, RateLimited | ConcurrencyLimited)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(lambda chunk: read_chunk(page, chunk, is_throttle), chunks))
    return sum(c for c, _ in results), sum(r for _, r in results)


def run_wechatpy(base_url: str, credentials: AppCredentials, userids: list[str]) -> tuple[int, int]:
    from wechatpy.enterprise import WeChatClient
    from wechatpy.exceptions import WeChatClientException

    class SimulatedWeChatClient(WeChatClient):
        """wechatpy's enterprise client with its hard-coded WeCom URLs pointed at the simulator."""

        API_BASE_URL = f"{base_url}/cgi-bin/"

        def fetch_access_token(self) -> dict:
            return self._fetch_access_token(
                url=f"{base_url}/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
            )

    client = SimulatedWeChatClient(credentials.corp_id, credentials.secret)

    def page(body: dict) -> dict:
        return client.post(API, data=body)

    def is_throttle(error: Exception) -> bool:
        return isinstance(error, WeChatClientException) and str(error.errcode) in THROTTLED

    calls = records = 0
    for chunk in chunked(userids, BATCH_GET_BY_USER_MAX_USERIDS):
        chunk_calls, chunk_records = read_chunk(page, chunk, is_throttle)
        calls += chunk_calls
        records += chunk_records
    return calls, records


def measure(run: Callable[[], tuple[int, int]], base_url: str, corpid: str) -> dict:
    throttled_before = throttled_answers(base_url, corpid)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        calls, records = run()
    wall = time.perf_counter() - started
    return {
        "calls": calls,
        "records": records,
        "wall_seconds": round(wall, 3),
        "calls_per_second": round(calls / wall, 1),
        "throttled_45009_45033": throttled_answers(base_url, corpid) - throttled_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    logger.setLevel(logging.WARNING)

    ready: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(args.customers, args.latency_ms, ready, stop), daemon=True)
    server.start()
    base_url, corpid, agent_id, secret, userids = ready.get(timeout=600)
    credentials = AppCredentials(corp_id=corpid, agent_id=agent_id, secret=secret)
    try:
        ours = measure(lambda: run_ours(base_url, credentials, userids, args.threads), base_url, corpid)
        theirs = measure(lambda: run_wechatpy(base_url, credentials, userids), base_url, corpid)
    finally:
        stop.set()
        server.join(timeout=10)
    print(
        json.dumps(
            {
                "bench": "wecom_client",
                "employees": len(userids),
                "customers": args.customers,
                "simulated_latency_ms": args.latency_ms,
                "threads": args.threads,
                "ours": ours,
                "wechatpy": theirs,
                "speedup_calls_per_second": round(ours["calls_per_second"] / theirs["calls_per_second"], 2),
                "speedup_wall": round(theirs["wall_seconds"] / ours["wall_seconds"], 2),
                "same_records": ours["records"] == theirs["records"],
                "throttled_45009_45033": ours["throttled_45009_45033"] + theirs["throttled_45009_45033"],
            }
        )
    )


if __name__ == "__main__":
    main()
