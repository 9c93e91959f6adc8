"""The WeCom client against httpx.MockTransport: tokens, refreshes, retries, typed errors, and no leaked secrets."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from chalicelib.config import get_settings
from chalicelib.domain.credentials import AppCredentials
from chalicelib.wecom import errors
from chalicelib.wecom.access_token import AccessTokens, InMemoryTokenStore
from chalicelib.wecom.client import WeComClient, redact

SECRET = "s3cret-app-secret-value-0001"
ROTATED_SECRET = "s3cret-app-secret-value-0002"
CREDENTIALS = AppCredentials(corp_id="ww-corp", agent_id=1000002, secret=SECRET)

Answer = dict[str, Any] | Exception


@dataclass
class FakeWeCom:
    """Answers gettoken with a new token per call and the scripted answers (then `ok`) for every other API."""

    script: list[Answer] = field(default_factory=list)
    valid_secrets: set[str] = field(default_factory=lambda: {SECRET})
    gettoken_calls: list[str] = field(default_factory=list)
    api_calls: list[httpx.Request] = field(default_factory=list)

    def token_for(self, n: int) -> str:
        return f"TOKEN-{n:04d}-xyzzy"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/gettoken":
            secret = request.url.params["corpsecret"]
            self.gettoken_calls.append(secret)
            if secret not in self.valid_secrets:
                return httpx.Response(200, json={"errcode": 40001, "errmsg": "invalid credential"})
            token = self.token_for(len(self.gettoken_calls))
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})
        self.api_calls.append(request)
        answer: Answer = self.script.pop(0) if self.script else {"errcode": 0, "errmsg": "ok", "n": len(self.api_calls)}
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(200, json=answer)

    def tokens_used(self) -> list[str]:
        return [r.url.params["access_token"] for r in self.api_calls]


@dataclass
class Harness:
    wecom: FakeWeCom
    client: WeComClient
    sleeps: list[float]


def make_client(
    wecom: FakeWeCom,
    credentials: AppCredentials | Callable[[], AppCredentials] = CREDENTIALS,
    **kwargs: Any,
) -> Harness:
    sleeps: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(wecom), base_url="https://wecom.test")
    client = WeComClient(
        credentials,
        AccessTokens(InMemoryTokenStore()),
        get_settings({}),
        http=http,
        sleep=sleeps.append,
        jitter=lambda: 1.0,
        **kwargs,
    )
    return Harness(wecom, client, sleeps)


def test_token_is_fetched_once_and_reused():
    h = make_client(FakeWeCom())
    first = h.client.get("externalcontact/get_follow_user_list")
    second = h.client.post("externalcontact/batch/get_by_user", {"userid_list": ["u1"]}, retry_safe=True)
    assert first["errcode"] == 0
    assert second["n"] == 2
    assert h.wecom.gettoken_calls == [SECRET]
    assert h.wecom.tokens_used() == [h.wecom.token_for(1)] * 2
    assert json.loads(h.wecom.api_calls[1].content) == {"userid_list": ["u1"]}


@pytest.mark.parametrize("errcode", [40014, 42001])
def test_rejected_token_is_refreshed_once_and_the_call_repeated(errcode):
    h = make_client(FakeWeCom(script=[{"errcode": errcode, "errmsg": "token expired"}]))
    answer = h.client.post("externalcontact/add_msg_template", {"text": {"content": "hi"}}, retry_safe=False)
    assert answer["errcode"] == 0
    assert len(h.wecom.gettoken_calls) == 2
    assert h.wecom.tokens_used() == [h.wecom.token_for(1), h.wecom.token_for(2)]
    assert h.sleeps == []


def test_token_rejected_again_after_the_refresh_raises_token_invalid():
    bad = {"errcode": 42001, "errmsg": "access_token expired"}
    h = make_client(FakeWeCom(script=[bad, bad, bad]))
    with pytest.raises(errors.TokenInvalid) as raised:
        h.client.get("externalcontact/get", {"external_userid": "wm1"})
    assert raised.value.errcode == 42001
    assert len(h.wecom.gettoken_calls) == 2
    assert len(h.wecom.api_calls) == 2


def test_invalid_secret_on_a_call_rereads_the_credentials():
    reads = [CREDENTIALS, AppCredentials("ww-corp", 1000002, ROTATED_SECRET)]
    wecom = FakeWeCom(
        script=[{"errcode": 40001, "errmsg": "invalid credential"}], valid_secrets={SECRET, ROTATED_SECRET}
    )
    h = make_client(wecom, credentials=lambda: reads.pop(0))
    assert h.client.get("externalcontact/list", {"userid": "u1"})["errcode"] == 0
    assert reads == []
    assert wecom.gettoken_calls == [SECRET, ROTATED_SECRET]


def test_rotated_secret_is_picked_up_when_gettoken_rejects_the_old_one():
    reads = [CREDENTIALS, AppCredentials("ww-corp", 1000002, ROTATED_SECRET)]
    wecom = FakeWeCom(valid_secrets={ROTATED_SECRET})
    h = make_client(wecom, credentials=lambda: reads.pop(0))
    assert h.client.get("externalcontact/list", {"userid": "u1"})["errcode"] == 0
    assert wecom.gettoken_calls == [SECRET, ROTATED_SECRET]


def test_invalid_secret_after_rereading_raises_credentials_invalid():
    wecom = FakeWeCom(valid_secrets=set())
    h = make_client(wecom)
    with pytest.raises(errors.CredentialsInvalid) as raised:
        h.client.get("externalcontact/list", {"userid": "u1"})
    assert raised.value.errcode == 40001
    assert raised.value.api == "gettoken"
    assert wecom.gettoken_calls == [SECRET, SECRET]
    assert wecom.api_calls == []


def test_reads_retry_system_busy_with_exponential_backoff():
    busy = {"errcode": -1, "errmsg": "system busy"}
    h = make_client(FakeWeCom(script=[busy, busy]))
    assert h.client.get("externalcontact/get", {"external_userid": "wm1"})["errcode"] == 0
    assert len(h.wecom.api_calls) == 3
    assert h.sleeps == [0.2, 0.4]


def test_backoff_is_full_jitter_under_a_cap():
    busy = {"errcode": -1, "errmsg": "system busy"}
    wecom = FakeWeCom(script=[busy] * 7)
    sleeps: list[float] = []
    client = WeComClient(
        CREDENTIALS,
        AccessTokens(InMemoryTokenStore()),
        get_settings({}),
        http=httpx.Client(transport=httpx.MockTransport(wecom), base_url="https://wecom.test"),
        sleep=sleeps.append,
        jitter=lambda: 0.5,
        max_attempts=8,
    )
    client.get("externalcontact/get")
    assert sleeps == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


def test_reads_give_up_after_the_retries_with_system_busy():
    h = make_client(FakeWeCom(script=[{"errcode": -1, "errmsg": "system busy"}] * 10))
    with pytest.raises(errors.SystemBusy):
        h.client.get("externalcontact/get", {"external_userid": "wm1"})
    assert len(h.wecom.api_calls) == 4
    assert len(h.sleeps) == 3


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("closed")])
def test_reads_retry_transport_errors(failure):
    h = make_client(FakeWeCom(script=[failure]))
    assert h.client.get("externalcontact/get", {"external_userid": "wm1"})["errcode"] == 0
    assert len(h.wecom.api_calls) == 2
    assert h.sleeps == [0.2]


def test_reads_failing_on_transport_every_time_raise_unavailable():
    h = make_client(FakeWeCom(script=[httpx.ReadTimeout("timed out")] * 4))
    with pytest.raises(errors.WeComUnavailable) as raised:
        h.client.get("externalcontact/get")
    assert raised.value.reason == "ReadTimeout"
    assert len(h.wecom.api_calls) == 4


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("timed out"), httpx.WriteError("broken pipe"), httpx.RemoteProtocolError("eof")]
)
def test_creates_are_not_retried_after_the_request_may_have_left(failure):
    h = make_client(FakeWeCom(script=[failure]))
    with pytest.raises(errors.OutcomeUnknown) as raised:
        h.client.post("externalcontact/add_msg_template", {"external_userid": ["wm1"]}, retry_safe=False)
    assert raised.value.api == "externalcontact/add_msg_template"
    assert len(h.wecom.api_calls) == 1
    assert h.sleeps == []


def test_creates_with_a_garbled_answer_are_outcome_unknown():
    def answer_html(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("gettoken"):
            return httpx.Response(200, json={"errcode": 0, "access_token": "T-html", "expires_in": 7200})
        return httpx.Response(502, text="<html>bad gateway</html>")

    client = WeComClient(
        CREDENTIALS,
        AccessTokens(InMemoryTokenStore()),
        get_settings({}),
        http=httpx.Client(transport=httpx.MockTransport(answer_html), base_url="https://wecom.test"),
        sleep=lambda _: None,
    )
    with pytest.raises(errors.OutcomeUnknown, match="HTTP 502"):
        client.post("externalcontact/send_welcome_msg", {"welcome_code": "c"}, retry_safe=False)


def test_creates_are_retried_when_the_connection_was_never_made():
    h = make_client(FakeWeCom(script=[httpx.ConnectError("refused"), httpx.ConnectTimeout("slow")]))
    answer = h.client.post("externalcontact/add_contact_way", {"type": 1, "scene": 2}, retry_safe=False)
    assert answer["errcode"] == 0
    assert len(h.wecom.api_calls) == 3
    assert h.sleeps == [0.2, 0.4]


def test_creates_are_not_retried_on_system_busy():
    h = make_client(FakeWeCom(script=[{"errcode": -1, "errmsg": "system busy"}]))
    with pytest.raises(errors.SystemBusy):
        h.client.post("externalcontact/transfer_customer", {"external_userid": ["wm1"]}, retry_safe=False)
    assert len(h.wecom.api_calls) == 1


@pytest.mark.parametrize(("errcode", "error_type"), [(45009, errors.RateLimited), (45033, errors.ConcurrencyLimited)])
def test_frequency_limits_are_raised_at_once(errcode, error_type):
    h = make_client(FakeWeCom(script=[{"errcode": errcode, "errmsg": "api freq out of limit"}]))
    with pytest.raises(error_type) as raised:
        h.client.post("externalcontact/get_groupmsg_task", {"msgid": "m1"}, retry_safe=True)
    assert raised.value.errcode == errcode
    assert len(h.wecom.api_calls) == 1
    assert h.sleeps == []


def test_other_errcodes_raise_a_plain_typed_error_with_errcode_errmsg_and_api():
    h = make_client(FakeWeCom(script=[{"errcode": 84061, "errmsg": "not external contact"}]))
    with pytest.raises(errors.WeComError) as raised:
        h.client.post("externalcontact/remark", {"userid": "u1", "external_userid": "wm1"}, retry_safe=True)
    error = raised.value
    assert type(error) is errors.WeComError
    assert (error.errcode, error.errmsg, error.api) == (84061, "not external contact", "externalcontact/remark")
    assert "84061" in str(error)
    assert "externalcontact/remark" in str(error)


def test_calls_of_one_api_are_capped_in_process():
    in_flight = 0
    peak = 0
    mutex = threading.Lock()

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        if request.url.path.endswith("gettoken"):
            return httpx.Response(200, json={"errcode": 0, "access_token": "T-cap", "expires_in": 7200})
        with mutex:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)
        with mutex:
            in_flight -= 1
        return httpx.Response(200, json={"errcode": 0})

    client = WeComClient(
        AppCredentials("ww-cap-corp", 1, SECRET),
        AccessTokens(InMemoryTokenStore()),
        get_settings({}),
        http=httpx.Client(transport=httpx.MockTransport(slow), base_url="https://wecom.test"),
        max_concurrency=2,
    )
    threads = [threading.Thread(target=client.get, args=("externalcontact/get",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 2


def test_each_exchange_emits_one_metrics_line_with_api_and_errcode(capsys):
    h = make_client(FakeWeCom(script=[{"errcode": -1, "errmsg": "busy"}]))
    h.client.get("externalcontact/get")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    by_api = [(m["api"], m["errcode"], m["WeComErrors"], m["attempt"]) for m in lines]
    assert by_api == [
        ("gettoken", "0", [0.0], 1),
        ("externalcontact/get", "-1", [1.0], 1),
        ("externalcontact/get", "0", [0.0], 2),
    ]
    assert all(m["WeComLatency"][0] >= 0 for m in lines)
    assert ["api", "errcode"] in lines[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_tokens_and_secrets_never_reach_logs_metrics_or_exceptions(capsys):
    token_echo = {"errcode": 60020, "errmsg": "not allow to access from your ip, access_token=TOKEN-0001-xyzzy"}
    wecom = FakeWeCom(
        script=[
            {"errcode": 42001, "errmsg": "expired"},
            httpx.ReadTimeout("timed out"),
            token_echo,
            httpx.ReadTimeout("timed out"),
        ]
    )
    collect = _Collect()
    watched = [logging.getLogger(), logging.getLogger("httpx"), logging.getLogger("qiwei-reach")]
    levels = [lg.level for lg in watched]
    for lg in watched:
        lg.addHandler(collect)
        lg.setLevel(logging.DEBUG)
    try:
        h = make_client(wecom)
        raised: list[BaseException] = []
        with pytest.raises(errors.WeComError) as first:
            h.client.get("externalcontact/get", {"external_userid": "wm1"})
        raised.append(first.value)
        with pytest.raises(errors.OutcomeUnknown) as second:
            h.client.post("externalcontact/add_msg_template", {"external_userid": ["wm1"]}, retry_safe=False)
        raised.append(second.value)
    finally:
        for lg, level in zip(watched, levels, strict=True):
            lg.removeHandler(collect)
            lg.setLevel(level)

    tokens = [wecom.token_for(n) for n in range(1, len(wecom.gettoken_calls) + 1)]
    assert len(tokens) == 2
    assert any("HTTP Request" in r.getMessage() for r in collect.records)
    assert any(getattr(r, "api", None) == "externalcontact/get" for r in collect.records)
    texts = [r.getMessage() + repr(r.__dict__) for r in collect.records]
    texts += [str(e) + repr(e) + repr(e.__cause__) + repr(e.__context__) for e in raised]
    texts += [capsys.readouterr().out, repr(CREDENTIALS), repr(h.client.__dict__)]
    for secret in [SECRET, *tokens]:
        assert not [t for t in texts if secret in t]


def test_redact_masks_token_and_secret_query_values():
    url = "https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ww1&corpsecret=abc123&x=1"
    assert redact(url) == "https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ww1&corpsecret=***&x=1"
    assert redact("GET /cgi-bin/user/get?access_token=T0K3N 200") == "GET /cgi-bin/user/get?access_token=*** 200"
