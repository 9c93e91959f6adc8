"""Access tokens shared through the runtime table (moto): several "Lambdas" share one token and one refresher."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from moto.core.botocore_stubber import BotocoreStubber

from chalicelib.domain.access_token import AccessToken
from chalicelib.domain.credentials import AppCredentials
from chalicelib.services.tenant_wecom import process_access_tokens
from chalicelib.store.tokens import DynamoTokenStore, RefreshLockItem
from chalicelib.wecom.access_token import AccessTokens, token_key
from chalicelib.wecom.client import WeComClient

CREDENTIALS = AppCredentials(corp_id="ww-shared-corp", agent_id=1000002, secret="shared-secret")


class CountingWeCom:
    """gettoken hands out a new token per call (slowly, to widen races); other APIs answer ok, or 42001 to `expired`."""

    def __init__(self, gettoken_seconds: float = 0.0) -> None:
        self.gettoken_calls = 0
        self.tokens_used: list[str] = []
        self.expired: set[str] = set()
        self._delay = gettoken_seconds
        self._mutex = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/gettoken"):
            with self._mutex:
                self.gettoken_calls += 1
                token = f"TOKEN-{self.gettoken_calls}"
            time.sleep(self._delay)
            return httpx.Response(200, json={"errcode": 0, "access_token": token, "expires_in": 7200})
        token = request.url.params["access_token"]
        with self._mutex:
            self.tokens_used.append(token)
        if token in self.expired:
            return httpx.Response(200, json={"errcode": 42001, "errmsg": "access_token expired"})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})


def lambda_client(wecom: CountingWeCom, settings) -> WeComClient:
    """What one Lambda process holds: its own memory cache and pool, the shared table behind them."""
    return WeComClient(
        CREDENTIALS,
        AccessTokens(DynamoTokenStore(settings)),
        settings,
        http=httpx.Client(transport=httpx.MockTransport(wecom), base_url="https://wecom.test"),
    )


def test_two_lambdas_share_one_token_through_the_table(aws):
    wecom = CountingWeCom()
    first, second = lambda_client(wecom, aws), lambda_client(wecom, aws)
    first.get("externalcontact/get_follow_user_list")
    second.get("externalcontact/get_follow_user_list")
    second.get("externalcontact/list", {"userid": "u1"})
    assert wecom.gettoken_calls == 1
    assert wecom.tokens_used == ["TOKEN-1"] * 3


@pytest.fixture
def atomic_moto(aws, monkeypatch):
    """In-process moto applies one request at a time, as DynamoDB applies a conditional write atomically: without it
    two threads can both pass the refresh lock's condition (seen once in a loaded full run)."""
    serial = threading.Lock()
    original = BotocoreStubber.__call__

    def one_at_a_time(self, *args, **kwargs):
        with serial:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", one_at_a_time)
    return aws


def test_concurrent_refreshers_make_exactly_one_gettoken_call(atomic_moto):
    aws = atomic_moto
    wecom = CountingWeCom(gettoken_seconds=0.3)
    clients = [lambda_client(wecom, aws) for _ in range(8)]
    barrier = threading.Barrier(len(clients))
    failures: list[BaseException] = []

    def run(client: WeComClient) -> None:
        barrier.wait()
        try:
            client.get("externalcontact/get_follow_user_list")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert wecom.gettoken_calls == 1
    assert wecom.tokens_used == ["TOKEN-1"] * len(clients)


def test_a_rejected_token_is_replaced_once_for_every_lambda(aws):
    wecom = CountingWeCom()
    first, second = lambda_client(wecom, aws), lambda_client(wecom, aws)
    first.get("externalcontact/get_follow_user_list")
    second.get("externalcontact/get_follow_user_list")
    wecom.expired.add("TOKEN-1")
    first.get("externalcontact/get_follow_user_list")
    second.get("externalcontact/get_follow_user_list")
    assert wecom.gettoken_calls == 2
    assert wecom.tokens_used[2:] == ["TOKEN-1", "TOKEN-2", "TOKEN-1", "TOKEN-2"]
    assert DynamoTokenStore(aws).load(token_key(CREDENTIALS)).value == "TOKEN-2"


def test_an_expired_lock_of_a_crashed_refresher_is_taken_over(aws):
    key = token_key(CREDENTIALS)
    RefreshLockItem(f"wecom-token#{key}", "refresh-lock", owner="crashed", expires_at=time.time() - 1).save()
    wecom = CountingWeCom()
    lambda_client(wecom, aws).get("externalcontact/get_follow_user_list")
    assert wecom.gettoken_calls == 1
    assert RefreshLockItem.count(f"wecom-token#{key}", RefreshLockItem.sk == "refresh-lock") == 0


def test_a_live_lock_blocks_a_second_refresher_and_only_its_owner_releases_it(aws):
    store = DynamoTokenStore(aws)
    now = time.time()
    assert store.try_lock("k", "lambda-a", now, 10)
    assert not store.try_lock("k", "lambda-b", now, 10)
    store.unlock("k", "lambda-b")
    assert not store.try_lock("k", "lambda-b", now + 5, 10)
    assert store.try_lock("k", "lambda-b", now + 10, 10)
    store.unlock("k", "lambda-b")
    assert store.try_lock("k", "lambda-a", now, 10)


def test_an_older_token_never_overwrites_a_newer_one(aws):
    store = DynamoTokenStore(aws)
    newer = AccessToken("NEW", issued_at=100, expires_at=7300)
    store.save("k", newer)
    store.save("k", AccessToken("OLD", issued_at=50, expires_at=7250))
    assert store.load("k") == newer
    store.discard("k", AccessToken("OLD", issued_at=50, expires_at=7250))
    assert store.load("k") == newer
    store.discard("k", newer)
    assert store.load("k") is None


def test_the_process_wide_tokens_are_backed_by_the_table(aws):
    tokens = process_access_tokens(aws)
    assert tokens is process_access_tokens(aws)
    token = tokens.get(CREDENTIALS, lambda _: AccessToken("P1", issued_at=time.time(), expires_at=time.time() + 7200))
    assert DynamoTokenStore(aws).load(token_key(CREDENTIALS)) == token
