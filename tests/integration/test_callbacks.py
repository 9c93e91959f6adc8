"""The WeCom callback endpoint on moto: verification, one queued event per POST, nothing enqueued on rejection."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.test import Client
from wechatpy.enterprise.crypto import WeChatCrypto

from app import app
from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain import plans
from chalicelib.observability import logger
from chalicelib.store import secrets as tenant_secrets
from chalicelib.store import tenants, usage
from chalicelib.wecom.crypto import WeComCrypto, signature
from chalicelib.wecom.events import WeComEvent, parse_event
from tests.tenancy import PROJECT_DIR

CORP = "ww1436e0e65a779aee"
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
XML = {"Content-Type": "text/xml"}


def inner_xml(change_type: str = "add_external_contact", user: str = "zhangsan", welcome_code: str = "WC") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>"
        f"<UserID><![CDATA[{user}]]></UserID><ExternalUserID><![CDATA[wmEXT]]></ExternalUserID>"
        f"<WelcomeCode><![CDATA[{welcome_code}]]></WelcomeCode></xml>"
    )


def register(tenant_id: str, status: str = plans.ACTIVE_STATUS, expires_at: int | None = None) -> None:
    now = int(time.time())
    tenants.create_tenant(
        tenants.Tenant(
            tenant_id=tenant_id,
            name="Acme",
            corp_id=CORP,
            agent_id=1000002,
            region="cn-north-1",
            plan=plans.TRIAL,
            status=status,
            status_reason=None,
            expires_at=now + 86400 if expires_at is None else expires_at,
            created_at=now,
            updated_at=now,
        ),
        {
            tenant_secrets.APP_SECRET: "app-secret",
            tenant_secrets.CALLBACK_TOKEN: TOKEN,
            tenant_secrets.ENCODING_AES_KEY: AES_KEY,
        },
    )


@pytest.fixture
def tenant_id(aws: Settings) -> str:
    tenant_id = f"t-{uuid.uuid4().hex[:10]}"
    register(tenant_id)
    return tenant_id


@pytest.fixture
def client(aws: Settings) -> Iterator[Client]:
    with Client(app, stage_name="local", project_dir=PROJECT_DIR) as test_client:
        yield test_client


def queued(settings: Settings, queue: resources.Queue) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.queue(queue))["QueueUrl"]
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])


def nothing_queued(settings: Settings) -> bool:
    return not queued(settings, resources.EVENTS) and not queued(settings, resources.EVENTS_REALTIME)


def signed(encrypt: str, timestamp: int | None = None, nonce: str = "1597212914") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"msg_signature": signature(TOKEN, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}


def envelope(encrypt: str) -> str:
    return f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"


def post(client: Client, tenant_id: str, body: str, query: dict[str, str], headers: dict[str, str] = XML) -> Any:
    return client.http.post(f"/wecom/{tenant_id}/callback?{urlencode(query)}", headers=headers, body=body)


def post_event(client: Client, tenant_id: str, xml: str, receive_id: str = CORP, **kwargs: Any) -> Any:
    encrypt = WeComCrypto(TOKEN, AES_KEY, receive_id).encrypt(xml)
    return post(client, tenant_id, envelope(encrypt), signed(encrypt, **kwargs))


def test_url_verification_answers_the_bare_plaintext(client: Client, tenant_id: str) -> None:
    echostr = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt("4127805236681952151")
    assert "+" in echostr or "/" in echostr or "=" in echostr
    query = signed(echostr) | {"echostr": echostr}
    answer = client.http.get(f"/wecom/{tenant_id}/callback?{urlencode(query, quote_via=quote)}")
    assert answer.status_code == 200
    assert answer.body == b"4127805236681952151"
    assert answer.headers["Content-Type"].startswith("text/plain")


def test_url_verification_survives_an_unencoded_plus(client: Client, tenant_id: str) -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP)
    echostr = next(e for e in (crypto.encrypt(f"echo{n}") for n in range(200)) if "+" in e)
    query = signed(echostr)
    raw = urlencode(query) + "&echostr=" + quote(echostr, safe="+")
    answer = client.http.get(f"/wecom/{tenant_id}/callback?{raw}")
    assert answer.status_code == 200
    assert answer.body.startswith(b"echo")


def test_url_verification_with_a_bad_signature_is_401(client: Client, tenant_id: str) -> None:
    echostr = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt("x")
    query = signed(echostr) | {"echostr": echostr, "msg_signature": "0" * 40}
    answer = client.http.get(f"/wecom/{tenant_id}/callback?{urlencode(query)}")
    assert answer.status_code == 401
    assert json.loads(answer.body)["Code"] == "UnauthorizedError"


def test_new_friend_is_queued_on_the_realtime_queue(client: Client, tenant_id: str, aws: Settings) -> None:
    xml = inner_xml("add_external_contact")
    answer = post_event(client, tenant_id, xml)
    assert answer.status_code == 200
    assert answer.body == b""
    [message] = queued(aws, resources.EVENTS_REALTIME)
    assert not queued(aws, resources.EVENTS)
    body = json.loads(message["Body"])
    assert body["tenant_id"] == tenant_id
    assert WeComEvent.from_message(body) == parse_event(xml)
    assert message["MessageAttributes"]["tenant_id"]["StringValue"] == tenant_id
    assert message["MessageAttributes"]["correlation_id"]["StringValue"]


def test_other_events_go_to_the_events_queue(client: Client, tenant_id: str, aws: Settings) -> None:
    xml = inner_xml("del_follow_user", welcome_code="")
    assert post_event(client, tenant_id, xml).status_code == 200
    [message] = queued(aws, resources.EVENTS)
    assert not queued(aws, resources.EVENTS_REALTIME)
    assert json.loads(message["Body"])["event"]["change_type"] == "del_follow_user"


def test_a_body_made_by_wechatpy_is_accepted(client: Client, tenant_id: str, aws: Settings) -> None:
    ts = str(int(time.time()))
    reply = WeChatCrypto(TOKEN, AES_KEY, CORP).encrypt_message(
        inner_xml("edit_external_contact", welcome_code=""), "n0nce", ts
    )
    sig = reply.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    answer = post(client, tenant_id, reply, {"msg_signature": sig, "timestamp": ts, "nonce": "n0nce"})
    assert answer.status_code == 200
    assert len(queued(aws, resources.EVENTS)) == 1


def test_suspended_and_expired_tenants_still_have_their_callbacks_accepted(client: Client, aws: Settings) -> None:
    tenant_id = f"t-{uuid.uuid4().hex[:10]}"
    register(tenant_id, status=plans.SUSPENDED_STATUS, expires_at=int(time.time()) - 86400)
    assert post_event(client, tenant_id, inner_xml()).status_code == 200
    assert len(queued(aws, resources.EVENTS_REALTIME)) == 1


@pytest.mark.parametrize("content_type", ["text/xml; charset=utf-8", "application/xml", None])
def test_content_types_wecom_or_a_proxy_may_send(
    client: Client, tenant_id: str, aws: Settings, content_type: str | None
) -> None:
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    headers = {} if content_type is None else {"Content-Type": content_type}
    assert post(client, tenant_id, envelope(encrypt), signed(encrypt), headers).status_code == 200


def test_other_content_types_are_refused(client: Client, tenant_id: str, aws: Settings) -> None:
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    answer = post(client, tenant_id, envelope(encrypt), signed(encrypt), {"Content-Type": "image/png"})
    assert answer.status_code == 415
    assert nothing_queued(aws)


@pytest.mark.parametrize("unknown", ["t-notregistered", "NOT_A_TENANT", "x"])
def test_unknown_tenants_answer_exactly_as_a_bad_signature(
    client: Client, tenant_id: str, aws: Settings, unknown: str
) -> None:
    """Without a valid signature, a registered tenant id and any other id cannot be told apart."""
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    forged = signed(encrypt) | {"msg_signature": "0" * 40}
    cases = [
        (lambda t: post(client, t, envelope(encrypt), signed(encrypt)), unknown),
        (lambda t: post(client, t, envelope(encrypt), forged), tenant_id),
        (lambda t: client.http.get(f"/wecom/{t}/callback?{urlencode(forged | {'echostr': encrypt})}"), tenant_id),
        (
            lambda t: client.http.get(f"/wecom/{t}/callback?{urlencode(signed(encrypt) | {'echostr': encrypt})}"),
            unknown,
        ),
    ]
    answers = [send(target) for send, target in cases]
    assert {(a.status_code, a.body) for a in answers} == {
        (401, b'{"Code":"UnauthorizedError","Message":"signature verification failed"}')
    }
    for query in ({}, {"msg_signature": "0" * 40, "timestamp": "soon", "nonce": "n"}):
        pair = [post(client, t, envelope(encrypt), query) for t in (unknown, tenant_id)]
        assert pair[0].status_code == pair[1].status_code == 401
        assert pair[0].body == pair[1].body
    assert nothing_queued(aws)


@pytest.mark.parametrize(
    "timestamp",
    [
        "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
        "\u00b2",
        "9" * 400,
        "12345678901",
        "+1700000000",
        " 1700000000",
        "1e9",
        "-5",
        "0x10",
        "1_000",
    ],
    ids=[
        "arabic-indic",
        "superscript",
        "400-digits",
        "11-digits",
        "plus",
        "space",
        "exponent",
        "negative",
        "hex",
        "underscore",
    ],
)
def test_timestamps_that_are_not_a_few_ascii_digits_are_401(
    client: Client, tenant_id: str, aws: Settings, timestamp: str
) -> None:
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    query = {"msg_signature": signature(TOKEN, timestamp, "n", encrypt), "timestamp": timestamp, "nonce": "n"}
    answers = [
        post(client, tenant_id, envelope(encrypt), query),
        client.http.get(f"/wecom/{tenant_id}/callback?{urlencode(query | {'echostr': encrypt})}"),
    ]
    for answer in answers:
        assert answer.status_code == 401
        assert json.loads(answer.body) == {
            "Code": "UnauthorizedError",
            "Message": "timestamp outside the replay window",
        }
    assert nothing_queued(aws)


def test_a_replayed_callback_is_acknowledged_but_not_queued_again(
    client: Client, tenant_id: str, aws: Settings
) -> None:
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    query = signed(encrypt)
    first, replay = (post(client, tenant_id, envelope(encrypt), query) for _ in range(2))
    assert (first.status_code, first.body) == (replay.status_code, replay.body) == (200, b"")
    assert len(queued(aws, resources.EVENTS_REALTIME)) == 1
    other = f"t-{uuid.uuid4().hex[:10]}"
    register(other)
    assert post(client, other, envelope(encrypt), query).status_code == 200  # the same bytes for another tenant
    fresh = signed(encrypt, nonce="another-nonce")
    assert post(client, tenant_id, envelope(encrypt), fresh).status_code == 200
    assert len(queued(aws, resources.EVENTS_REALTIME)) == 2


def test_a_callback_whose_queueing_failed_is_accepted_when_sent_again(
    client: Client, tenant_id: str, aws: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import queues

    publish = queues.publish
    failures = iter([True])

    def flaky(*args: Any, **kwargs: Any) -> None:
        if next(failures, False):
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessage")
        publish(*args, **kwargs)

    monkeypatch.setattr(queues, "publish", flaky)
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    query = signed(encrypt)
    assert post(client, tenant_id, envelope(encrypt), query).status_code == 500
    assert post(client, tenant_id, envelope(encrypt), query).status_code == 200
    assert len(queued(aws, resources.EVENTS_REALTIME)) == 1


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"timestamp": "1", "nonce": "n"},
        {"msg_signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "n"},
        {"msg_signature": "0" * 40, "timestamp": "soon", "nonce": "n"},
    ],
    ids=["none", "no-signature", "wrong-signature", "bad-timestamp"],
)
def test_missing_or_bad_signatures_are_401(client: Client, tenant_id: str, aws: Settings, query: dict) -> None:
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    answer = post(client, tenant_id, envelope(encrypt), query)
    assert answer.status_code == 401
    assert json.loads(answer.body)["Code"] == "UnauthorizedError"
    assert nothing_queued(aws)


def test_a_message_for_another_receiver_is_401(client: Client, tenant_id: str, aws: Settings) -> None:
    assert post_event(client, tenant_id, inner_xml(), receive_id="ww0000000000000000").status_code == 401
    assert nothing_queued(aws)


@pytest.mark.parametrize("skew", [-301, 301, -3600, 10**9])
def test_timestamps_outside_the_replay_window_are_401(client: Client, tenant_id: str, aws: Settings, skew: int) -> None:
    answer = post_event(client, tenant_id, inner_xml(), timestamp=int(time.time()) + skew)
    assert answer.status_code == 401
    assert nothing_queued(aws)


def test_the_replay_window_is_a_setting(
    client: Client, tenant_id: str, aws: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLBACK_REPLAY_WINDOW_SECONDS", "1000")
    assert post_event(client, tenant_id, inner_xml(), timestamp=int(time.time()) - 900).status_code == 200
    monkeypatch.setenv("CALLBACK_REPLAY_WINDOW_SECONDS", "10")
    assert post_event(client, tenant_id, inner_xml(), timestamp=int(time.time()) - 60).status_code == 401


def test_bodies_over_64_kib_are_413(client: Client, tenant_id: str, aws: Settings) -> None:
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    body = envelope(encrypt).replace("</xml>", "<Pad>" + "x" * 65536 + "</Pad></xml>")
    answer = post(client, tenant_id, body, signed(encrypt))
    assert answer.status_code == 413
    assert json.loads(answer.body)["Code"] == "PayloadTooLargeError"
    assert nothing_queued(aws)


@pytest.mark.parametrize(
    "body",
    [
        '<!DOCTYPE xml [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>',
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>',
        "<xml><Encrypt>abc</Encrypt>",
        "<xml><ToUserName>x</ToUserName></xml>",
    ],
    ids=["entity", "external-entity", "unclosed", "no-encrypt"],
)
def test_unsafe_or_broken_envelopes_are_400(client: Client, tenant_id: str, aws: Settings, body: str) -> None:
    answer = post(client, tenant_id, body, signed("abc"))
    assert answer.status_code == 400
    assert json.loads(answer.body)["Code"] == "BadRequestError"
    assert nothing_queued(aws)


@pytest.mark.parametrize(
    "xml",
    [
        '<!DOCTYPE xml [<!ENTITY e "x">]>' + inner_xml().replace("zhangsan", "&e;"),
        '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>' + inner_xml(),
        inner_xml().replace("</xml>", ""),
        "plain text",
    ],
    ids=["entity", "expansion", "unclosed", "text"],
)
def test_unsafe_or_broken_inner_xml_is_400(client: Client, tenant_id: str, aws: Settings, xml: str) -> None:
    answer = post_event(client, tenant_id, xml)
    assert answer.status_code == 400
    assert nothing_queued(aws)


def test_logs_carry_ids_but_no_secret_or_payload(client: Client, tenant_id: str, aws: Settings) -> None:
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml(welcome_code="WELCOME-SECRET"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        assert post(client, tenant_id, envelope(encrypt), signed(encrypt)).status_code == 200
        assert post(client, tenant_id, envelope(encrypt), signed(encrypt) | {"nonce": "other"}).status_code == 401
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["wecom callback queued", "wecom callback rejected"]
    assert all(line["tenant_id"] == tenant_id and line["correlation_id"] for line in lines)
    logged = json.dumps(lines)
    for secret in (TOKEN, AES_KEY, "WELCOME-SECRET", encrypt[:40], "zhangsan"):
        assert secret not in logged


def test_callbacks_stamp_usage_at_most_once_a_minute(client: Client, aws: Settings) -> None:
    tenant_id = f"t-{uuid.uuid4().hex[:10]}"
    register(tenant_id)
    for user in ("a", "b", "c"):
        assert post_event(client, tenant_id, inner_xml(user=user)).status_code == 200
    seen = usage.usage_of([tenant_id], usage.month_of(time.time()))[tenant_id]
    assert seen.counts[usage.CALLBACKS] == 1
    assert abs(seen.last_at[usage.CALLBACKS] - time.time()) < 5


def api_gateway_event(tenant_id: str, query: dict[str, str], body: str, *, base64_body: bool) -> dict[str, Any]:
    """What API Gateway's REST proxy integration hands the Lambda, text or binary-encoded body."""
    resource = "/wecom/{tenant_id}/callback"
    return {
        "resource": resource,
        "path": f"/wecom/{tenant_id}/callback",
        "httpMethod": "POST",
        "headers": {"Content-Type": "text/xml"},
        "multiValueHeaders": {"Content-Type": ["text/xml"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "pathParameters": {"tenant_id": tenant_id},
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": "POST", "requestId": "apigw-req-1", "stage": "api"},
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


@pytest.mark.parametrize("base64_body", [False, True])
def test_behind_api_gateway_the_raw_body_is_read(tenant_id: str, aws: Settings, base64_body: bool) -> None:
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    answer = app(api_gateway_event(tenant_id, signed(encrypt), envelope(encrypt), base64_body=base64_body), None)
    assert answer["statusCode"] == 200
    [message] = queued(aws, resources.EVENTS_REALTIME)
    assert message["MessageAttributes"]["correlation_id"]["StringValue"] == "apigw-req-1"


def test_unknown_tenant_ids_are_remembered_briefly_and_boundedly(
    aws: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    monkeypatch.setattr(tenants, "get_tenant", lambda tenant_id: reads.append(tenant_id))
    tenants._credentials.forget()
    for n in range(tenants.CACHED_TENANTS_MAX + 500):
        assert tenants.get_callback_credentials(f"t-unknown{n:05d}") is None
    assert len(tenants._credentials) <= tenants.CACHED_TENANTS_MAX
    assert tenants.get_callback_credentials(f"t-unknown{tenants.CACHED_TENANTS_MAX + 499:05d}") is None
    assert len(reads) == tenants.CACHED_TENANTS_MAX + 500  # the newest is still remembered
    later = time.monotonic() + tenants.UNKNOWN_TTL_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    tenants.get_callback_credentials(f"t-unknown{tenants.CACHED_TENANTS_MAX + 499:05d}")
    assert len(reads) == tenants.CACHED_TENANTS_MAX + 501  # and read again once its TTL is over
