"""Benchmark: the WeCom callback POST path in process, against wechatpy's bare decrypt of the same messages.

The app runs through `chalice.test.Client` on in-process moto (tables and queues from `local.provision`, a tenant
created through the tenants repository), so each call pays for routing, credential lookup (cached), signature check,
decryption, defused XML parsing of envelope and event, and one SQS SendMessage. The floor is
`wechatpy.enterprise.crypto.WeChatCrypto.decrypt_message` on the very same bodies: signature and decryption only.
Calls are sequential from one caller; per_second is n over the summed call times. moto's SendMessage slows down
linearly with queue depth, so the queues are drained (untimed) every DRAIN_EVERY calls, and moto's own share is
measured separately (moto_sqs_p50_ms). Prints a line per measurement, then ONE JSON line of figures.

    python bench/callbacks.py [n]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "cn-north-1",
        "AWS_REGION": "cn-north-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SSM"):
    os.environ.pop(variable, None)

import boto3  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402
from wechatpy.enterprise.crypto import WeChatCrypto  # noqa: E402

from app import app  # noqa: E402
from chalicelib import queues, resources  # noqa: E402
from chalicelib.config import Settings, get_settings  # noqa: E402
from chalicelib.domain import plans  # noqa: E402
from chalicelib.store import secrets as tenant_secrets  # noqa: E402
from chalicelib.store import tenants  # noqa: E402
from chalicelib.store.tables import bind_models  # noqa: E402
from chalicelib.wecom.crypto import WeComCrypto, signature  # noqa: E402
from local.provision import create_resources  # noqa: E402

TENANT = "t-bench"
CORP = "ww1436e0e65a779aee"
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"  # noqa: S105 - the official sample token
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
WARMUP = 50
DRAIN_EVERY = 20
CHANGE_TYPES = ("add_external_contact", "edit_external_contact", "del_follow_user")


def event_xml(n: int, now: int) -> str:
    """A customer-contact event shaped like WeCom's; a third are new friends (realtime queue)."""
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[change_external_contact]]></Event>"
        f"<ChangeType><![CDATA[{CHANGE_TYPES[n % 3]}]]></ChangeType><UserID><![CDATA[sales{n % 50}]]></UserID>"
        f"<ExternalUserID><![CDATA[wmAbCdEfGhIjKlMn{n:08d}]]></ExternalUserID><State><![CDATA[qr-{n % 7}]]></State>"
        f"</xml>"
    )


def build_requests(n: int) -> list[tuple[str, dict[str, str]]]:
    """(envelope body, query) pairs as WeCom would POST them."""
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP)
    now = int(time.time())
    out = []
    for i in range(n):
        encrypt = crypto.encrypt(event_xml(i, now))
        nonce = str(1_000_000 + i)
        body = (
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<AgentID><![CDATA[]]></AgentID></xml>"
        )
        out.append(
            (body, {"msg_signature": signature(TOKEN, str(now), nonce, encrypt), "timestamp": str(now), "nonce": nonce})
        )
    return out


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def drain(settings: Settings) -> None:
    """Empty the event queues (untimed): moto's SendMessage slows down linearly with the depth of the queue."""
    sqs = boto3.client("sqs")
    for queue in (resources.EVENTS, resources.EVENTS_REALTIME):
        url = queues.queue_url(queue, settings)
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def measure_endpoint(
    client: Client, requests: list[tuple[str, dict[str, str]]], settings: Settings
) -> tuple[list[float], float]:
    path = f"/wecom/{TENANT}/callback?"
    headers = {"Content-Type": "text/xml"}
    latencies = []
    for index, (body, query) in enumerate(requests):
        if index % DRAIN_EVERY == 0:
            drain(settings)
        t0 = time.perf_counter()
        answer = client.http.post(path + urlencode(query), headers=headers, body=body)
        latencies.append(time.perf_counter() - t0)
        if answer.status_code != 200:
            raise SystemExit(f"callback answered {answer.status_code}: {answer.body!r}")
    return latencies, sum(latencies)


def measure_floor(requests: list[tuple[str, dict[str, str]]]) -> tuple[list[float], float]:
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP)
    latencies = []
    started = time.perf_counter()
    for body, query in requests:
        t0 = time.perf_counter()
        crypto.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
        latencies.append(time.perf_counter() - t0)
    return latencies, time.perf_counter() - started


def measure_sqs_publish(count: int, settings: Settings) -> list[float]:
    """SendMessage alone on moto, with a message of the size the endpoint sends: the share moto takes."""
    message = {"type": "wecom_event", "v": 1, "class": "external_contact", "event": {"x": "y" * 400}}
    latencies = []
    for index in range(count):
        if index % DRAIN_EVERY == 0:
            drain(settings)
        t0 = time.perf_counter()
        queues.publish(resources.EVENTS, message, tenant_id=TENANT, correlation_id="bench")
        latencies.append(time.perf_counter() - t0)
    return latencies


def main(n: int) -> dict[str, float | int]:
    with mock_aws():
        settings = get_settings()
        create_resources(boto3.client("dynamodb"), boto3.client("sqs"), settings)
        bind_models(settings)
        now = int(time.time())
        tenants.create_tenant(
            tenants.Tenant(
                TENANT,
                "Bench",
                CORP,
                1000002,
                settings.region,
                plans.TRIAL,
                plans.ACTIVE_STATUS,
                None,
                now + 86400,
                now,
                now,
            ),
            {
                tenant_secrets.APP_SECRET: "s",
                tenant_secrets.CALLBACK_TOKEN: TOKEN,
                tenant_secrets.ENCODING_AES_KEY: AES_KEY,
            },
        )
        requests = build_requests(n + WARMUP)
        with Client(app, stage_name="local", project_dir=str(ROOT)) as client:
            measure_endpoint(client, requests[:WARMUP], settings)
            latencies, elapsed = measure_endpoint(client, requests[WARMUP:], settings)
        sqs = measure_sqs_publish(min(n, 300), settings)
        measure_floor(requests[:WARMUP])
        floor, floor_elapsed = measure_floor(requests[WARMUP:])
    figures = {
        "n": n,
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "per_second": round(n / elapsed, 1),
        "floor_p50_ms": round(statistics.median(floor) * 1000, 4),
        "floor_per_second": round(n / floor_elapsed, 1),
    }
    figures["ratio"] = round(figures["p50_ms"] / figures["floor_p50_ms"], 1)
    figures["moto_sqs_p50_ms"] = round(statistics.median(sqs) * 1000, 3)
    print(
        f"endpoint (chalice test client + moto SQS): p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
        f"{figures['per_second']}/s"
    )
    print(f"floor (wechatpy decrypt_message): p50 {figures['floor_p50_ms']} ms, {figures['floor_per_second']}/s")
    print(f"endpoint p50 / floor p50 = {figures['ratio']}")
    print(f"of which moto's in-process SendMessage alone: p50 {figures['moto_sqs_p50_ms']} ms")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)))
