"""The embedded local stack in-process: moto server, provisioning, the HTTP API and the pump; clean stop."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import httpx
import pytest
from chalice import Chalice, Response
from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib import resources
from local.api_server import ApiServer
from local.stack import LocalStack

pytestmark = pytest.mark.e2e


def port_is_closed(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


def settle(threads_before: set[threading.Thread], timeout: float = 3.0) -> set[str]:
    """Names of threads started since `threads_before` that are still alive after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        left = {t.name for t in threading.enumerate() if t not in threads_before and t.is_alive()}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


class ProbeItem(Model):
    """A PynamoDB model with no endpoint of its own: it must find the stack through the environment."""

    class Meta:
        table_name = "unbound"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


def test_the_stack_serves_the_app_on_provisioned_resources_and_stops_cleanly():
    threads_before = set(threading.enumerate())
    endpoint_before = os.environ.get("AWS_ENDPOINT_URL")
    with LocalStack() as stack:
        with httpx.Client(base_url=stack.api_url, timeout=5) as http:
            health = http.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}

        assert os.environ["AWS_ENDPOINT_URL"] == stack.aws_endpoint
        assert os.environ["STAGE"] == "local"
        # Unchanged app code (a default boto3 client, no endpoint given) reaches the stack's moto server.
        tables = boto3.client("dynamodb").list_tables()["TableNames"]
        ProbeItem.Meta.table_name = stack.settings.table(resources.RUNTIME)
        ProbeItem.Meta.region = stack.settings.region
        ProbeItem(pk="probe", sk="1").save()
        assert ProbeItem.get("probe", "1").pk == "probe"
        assert sorted(tables) == sorted(stack.settings.table(t) for t in resources.TABLES)
        ttl = stack.client("dynamodb").describe_time_to_live(TableName=stack.settings.table(resources.DATA))
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
        queue_names = {url.rsplit("/", 1)[-1] for url in stack.client("sqs").list_queues()["QueueUrls"]}
        declared = {stack.settings.queue(q) for q in resources.QUEUES}
        assert queue_names == declared | {f"{name}-dlq" for name in declared}
        api_url, aws_endpoint = stack.api_url, stack.aws_endpoint

    assert port_is_closed(api_url)
    assert port_is_closed(aws_endpoint)
    assert os.environ.get("AWS_ENDPOINT_URL") == endpoint_before
    assert settle(threads_before) == set()


def test_the_stack_shows_callback_urls_under_its_own_api_and_its_ops_routes_need_the_key_it_sets():
    key = "stack-ops-key"
    before = os.environ.get("PUBLIC_BASE_URL")
    with LocalStack(environment={"OPS_KEY_SHA256": hashlib.sha256(key.encode()).hexdigest()}) as stack:
        assert os.environ["PUBLIC_BASE_URL"] == stack.api_url
        with httpx.Client(base_url=stack.api_url, timeout=10) as http:
            assert http.get("/ops/tenants").status_code == 401
            body = {"name": "A", "corp_id": "ww1", "agent_id": 1, "app_secret": "x", "tenant_id": "stacked"}
            created = http.post("/ops/tenants", json=body, headers={"X-Ops-Key": key, "Host": "elsewhere.example"})
        assert created.status_code == 201, created.text
        assert created.json()["callback"]["url"] == f"{stack.api_url}/wecom/stacked/callback"
    assert os.environ.get("PUBLIC_BASE_URL") == before


def test_the_stack_runs_the_apps_queue_handlers_through_its_pump():
    app = Chalice(app_name="stacktest")
    received: list[str] = []

    @app.on_sqs_message(queue=resources.EVENTS.name, batch_size=10)
    def on_event(event):
        received.extend(record.body for record in event)

    with LocalStack(app=app) as stack:
        sqs = stack.client("sqs")
        sqs.send_message(QueueUrl=stack.queue_urls[resources.EVENTS.name], MessageBody="hello")
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.02)
    assert received == ["hello"]


def echo_app() -> Chalice:
    app = Chalice(app_name="apitest")

    @app.route("/slow", methods=["GET"])
    def slow():
        time.sleep(0.3)
        return {"path": app.current_request.path}

    @app.route("/callback/{tenant}", methods=["POST"], content_types=["text/xml", "application/xml"])
    def callback(tenant):
        body = app.current_request.raw_body
        return Response(body=body, headers={"Content-Type": "text/xml", "X-Tenant": tenant}, status_code=200)

    return app


@pytest.fixture(scope="module")
def api() -> ApiServer:
    server = ApiServer(echo_app())
    server.start()
    yield server
    server.stop()


def test_the_api_server_handles_requests_concurrently(api):
    with httpx.Client(base_url=api.url, timeout=5) as http, ThreadPoolExecutor(6) as pool:
        started = time.monotonic()
        answers = list(pool.map(lambda _: http.get("/slow"), range(6)))
        elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * 6
    assert elapsed < 6 * 0.3 / 2


def test_the_api_server_passes_xml_bodies_through_unchanged(api):
    xml = "<xml><ToUserName><![CDATA[企业]]></ToUserName><Encrypt><![CDATA[a+b/c==]]></Encrypt></xml>".encode()
    answer = httpx.post(f"{api.url}/callback/t-1", content=xml, headers={"Content-Type": "text/xml"}, timeout=5)
    assert answer.status_code == 200
    assert answer.content == xml
    assert answer.headers["x-tenant"] == "t-1"
    assert answer.headers["content-type"] == "text/xml"


def test_a_second_server_on_the_same_app_object_starts(api):
    again = ApiServer(api.app)
    again.start()
    url = again.url
    try:
        assert httpx.get(f"{url}/slow", timeout=5).status_code == 200
    finally:
        again.stop()
    assert port_is_closed(url)
