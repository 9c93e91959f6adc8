"""Settings from the environment, read when asked for, never at import.

Chalice's test client swaps the environment only during a call, and a cold start should not pay for settings a
function never uses, so every caller asks `get_settings()` at the start of its unit of work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from chalicelib import resources
from chalicelib.domain.egress import ip_bucket_key, parse_egress_ips


@dataclass(frozen=True)
class Settings:
    """What the functions need to know about their stage.

    `egress_ips` are the region's public IPs for WeCom (tenants list them as trusted, WECOM.md §9.1) and `egress_ip`
    what the per-IP rate limit buckets key on (`domain.egress`).
    `ops_auth` says what lets a request into `/ops`: "key" (the default) an `X-Ops-Key` matching `ops_key_sha256`,
    refused outright when that is empty; "iam-only" IAM's SigV4 alone, for a deployed stage that says so. Any other
    value refuses every ops request. `public_base_url` is where WeCom reaches this API (scheme, host, stage path).
    `plan_shards` is how many shards a broadcast's planning is split into at most (run in parallel); `sync_lanes` how
    many lanes a customer sync reads in at most. The local stage keeps both low: its one moto server answers DynamoDB
    one request at a time, so more lanes and shards only queue there, ahead of the new-friend events.
    `receipt_writes` is how a planner records who got a mass message: "transactions" (100 set ADDs per request, twice
    the write units) or "updates" (one UpdateItem per customer); see `store.receipts`.
    `wechat_open_base_url` serves WeChat's OAuth page to the browser, `wechat_api_base_url` its `sns/` API;
    `page_heartbeat_ms` is how often a shared page reports that it is still being read.
    """

    stage: str
    region: str
    dynamodb_endpoint: str | None
    tables: dict[str, str]
    queues: dict[str, str]
    wecom_base_url: str
    wecom_timeout_seconds: float
    egress_ip: str
    callback_replay_window_seconds: int
    secrets_prefix: str
    log_level: str
    ops_key_sha256: str = ""
    ops_auth: str = "key"
    public_base_url: str = ""
    egress_ips: tuple[str, ...] = ()
    plan_shards: int = 16
    sync_lanes: int = 5
    receipt_writes: str = "transactions"
    wechat_open_base_url: str = "https://open.weixin.qq.com"
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    page_heartbeat_ms: int = 5000

    def table(self, spec: resources.Table) -> str:
        return self.tables[spec.logical]

    def queue(self, spec: resources.Queue) -> str:
        return self.queues[spec.logical]


def get_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build the settings from `environ` (the process environment by default)."""
    env = os.environ if environ is None else environ
    egress_ips = parse_egress_ips(env.get("EGRESS_IPS", ""))
    return Settings(
        stage=env.get("STAGE", "local"),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "cn-north-1",
        dynamodb_endpoint=env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL") or None,
        tables={t.logical: env.get(t.env_var) or t.name for t in resources.TABLES},
        queues={q.logical: env.get(q.env_var) or q.name for q in resources.QUEUES},
        wecom_base_url=env.get("WECOM_BASE_URL", "https://qyapi.weixin.qq.com").rstrip("/"),
        wecom_timeout_seconds=float(env.get("WECOM_TIMEOUT_SECONDS", "5")),
        egress_ip=ip_bucket_key(egress_ips, env.get("EGRESS_IP", "")),
        callback_replay_window_seconds=int(env.get("CALLBACK_REPLAY_WINDOW_SECONDS", "300")),
        secrets_prefix=env.get("SECRETS_PREFIX", f"/{resources.APP_NAME}/{env.get('STAGE', 'local')}"),
        log_level=env.get("LOG_LEVEL", "INFO"),
        ops_key_sha256=env.get("OPS_KEY_SHA256", "").strip().lower(),
        ops_auth=env.get("OPS_AUTH", "key").strip().lower(),
        public_base_url=env.get("PUBLIC_BASE_URL", "").strip().rstrip("/"),
        egress_ips=egress_ips,
        plan_shards=max(1, int(env.get("PLAN_SHARDS", "16"))),
        sync_lanes=max(1, int(env.get("SYNC_LANES", "5"))),
        receipt_writes=receipt_writes(env.get("RECEIPT_WRITES", "transactions")),
        wechat_open_base_url=env.get("WECHAT_OPEN_BASE_URL", "https://open.weixin.qq.com").rstrip("/"),
        wechat_api_base_url=env.get("WECHAT_API_BASE_URL", "https://api.weixin.qq.com").rstrip("/"),
        page_heartbeat_ms=int(env.get("PAGE_HEARTBEAT_MS", "5000")),
    )


RECEIPT_WRITES = ("transactions", "updates")


def receipt_writes(value: str) -> str:
    """`RECEIPT_WRITES`, checked: a stage with a misspelt value fails at its first request, not silently."""
    value = value.strip().lower()
    if value not in RECEIPT_WRITES:
        raise ValueError(f"RECEIPT_WRITES must be one of {', '.join(RECEIPT_WRITES)}, not {value!r}")
    return value
