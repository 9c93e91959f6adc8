"""WeComClient.upload: a multipart POST with the token in the query, retried like a read (an upload is harmless
to repeat)."""

from __future__ import annotations

import httpx
import pytest

from chalicelib.config import get_settings
from chalicelib.domain.credentials import AppCredentials
from chalicelib.wecom import errors
from chalicelib.wecom.access_token import AccessTokens, InMemoryTokenStore
from chalicelib.wecom.client import WeComClient

CREDENTIALS = AppCredentials(corp_id="ww-corp", agent_id=1000002, secret="app-secret")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 40


def client(answers: list, seen: list[httpx.Request]) -> WeComClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/gettoken":
            return httpx.Response(200, json={"errcode": 0, "access_token": "TOKEN", "expires_in": 7200})
        request.read()
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(200, json=answer)

    http = httpx.Client(transport=httpx.MockTransport(handle), base_url="https://wecom.test")
    return WeComClient(
        CREDENTIALS, AccessTokens(InMemoryTokenStore()), get_settings({}), http=http, sleep=lambda _: None
    )


def test_upload_sends_a_multipart_form_with_the_token_and_type_in_the_query() -> None:
    seen: list[httpx.Request] = []
    answer = {"errcode": 0, "type": "image", "media_id": "MEDIA", "created_at": "1700000000"}
    result = client([answer], seen).upload("media/upload", {"type": "image"}, {"media": ("a.png", PNG, "image/png")})
    assert result["media_id"] == "MEDIA"
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/cgi-bin/media/upload"
    assert dict(request.url.params) == {"type": "image", "access_token": "TOKEN"}
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="media"; filename="a.png"' in request.content
    assert PNG in request.content


def test_upload_is_retried_after_a_lost_answer_and_busy_but_not_after_a_refusal() -> None:
    seen: list[httpx.Request] = []
    ok = {"errcode": 0, "media_id": "M2"}
    answers = [httpx.ReadTimeout("lost"), {"errcode": -1, "errmsg": "busy"}, ok]
    upload = client(answers, seen).upload("media/upload", {"type": "file"}, {"media": ("f", b"abcdefgh", "x/y")})
    assert upload["media_id"] == "M2"
    assert len(seen) == 3
    refused: list[httpx.Request] = []
    with pytest.raises(errors.WeComError) as raised:
        client([{"errcode": 40005, "errmsg": "invalid file type"}], refused).upload(
            "media/upload", {"type": "image"}, {"media": ("f", b"abcdefgh", "x/y")}
        )
    assert raised.value.errcode == 40005
    assert len(refused) == 1
