"""Hostile XML on the callback endpoint: an envelope or event nested too deep or with too many elements is answered
as any bad XML is (400, a JSON error) and nothing is queued; before the bound, a deeply nested unknown event crashed
the serializer of its queued message (a 500, and WeCom's retries)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from chalice.test import Client

from app import app
from chalicelib.config import Settings
from chalicelib.wecom.crypto import MAX_XML_ELEMENTS, WeComCrypto
from tests.integration.test_callbacks import (
    AES_KEY,
    CORP,
    TOKEN,
    inner_xml,
    nothing_queued,
    post,
    post_event,
    register,
    signed,
)
from tests.tenancy import PROJECT_DIR


@pytest.fixture
def tenant_id(aws: Settings) -> str:
    register("t-hostile")
    return "t-hostile"


@pytest.fixture
def client(aws: Settings) -> Iterator[Client]:
    with Client(app, stage_name="local", project_dir=PROJECT_DIR) as test_client:
        yield test_client


def _deep(depth: int) -> str:
    return "<Extra>" + "<a>" * depth + "x" + "</a>" * depth + "</Extra>"


@pytest.mark.parametrize(
    "xml",
    [
        inner_xml().replace("</xml>", _deep(5000) + "</xml>"),
        inner_xml().replace("</xml>", _deep(100) + "</xml>"),
        inner_xml().replace("</xml>", "<MemChangeList>" + "<Item/>" * MAX_XML_ELEMENTS + "</MemChangeList></xml>"),
    ],
    ids=["5000-deep", "100-deep", "too-many-elements"],
)
def test_events_nested_too_deep_or_too_large_are_400_and_not_queued(
    client: Client, tenant_id: str, aws: Settings, xml: str
) -> None:
    answer = post_event(client, tenant_id, xml)
    assert answer.status_code == 400
    assert json.loads(answer.body) == {"Code": "BadRequestError", "Message": "malformed or unsafe XML"}
    assert nothing_queued(aws)


def test_a_deeply_nested_envelope_is_400_and_not_queued(client: Client, tenant_id: str, aws: Settings) -> None:
    encrypt = WeComCrypto(TOKEN, AES_KEY, CORP).encrypt(inner_xml())
    body = f"<xml>{_deep(5000)}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    answer = post(client, tenant_id, body, signed(encrypt))
    assert answer.status_code == 400
    assert json.loads(answer.body)["Message"] == "malformed or unsafe XML"
    assert nothing_queued(aws)


def test_a_tenant_id_ending_in_a_newline_is_answered_as_an_unknown_tenant(
    client: Client, tenant_id: str, aws: Settings
) -> None:
    for malformed in (f"{tenant_id}%0A", "x" * 10_000):
        answer = post_event(client, malformed, inner_xml())
        assert answer.status_code == 401
        assert json.loads(answer.body) == {"Code": "UnauthorizedError", "Message": "signature verification failed"}
    assert nothing_queued(aws)
