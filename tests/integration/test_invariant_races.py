"""Rules on counts hold under concurrent writes: a tenant keeps at least one active admin key even when its admins
revoke each other's keys at the same moment, and concurrent mass messages never exceed the plan's monthly quota.

The races run against the local stack's moto server, which applies conditional writes and transactions atomically as
DynamoDB does (in-process moto does not, see `local.aws.SerialDynamoDB`), so DynamoDB's decision is what is tested.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.config import Settings, get_settings
from chalicelib.domain.access import ADMIN, VIEWER
from chalicelib.domain.broadcasts import BroadcastConflict
from chalicelib.services import broadcast_admin
from chalicelib.store import usage
from chalicelib.store.api_keys import ADMIN_COUNT_SK, AdminCountItem, ApiKeyItem, ApiKeys, LastAdminKey
from chalicelib.store.keys import TenantKeys
from local import aws as local_aws

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

ROUNDS = 25
DEADLINE_SECONDS = 60.0


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = local_aws.start_moto_server()
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def atomic_aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on the atomic moto server; its tables are provisioned again for each test, because the server runs
    in this process and an in-process moto test in between resets the backends it shares."""
    for name, value in local_aws.aws_environment(moto_endpoint, "cn-north-1").items():
        monkeypatch.setenv(name, value)
    settings = get_settings()
    local_aws.provision(moto_endpoint, settings)
    return settings


def admin_count(tenant_id: str) -> int:
    return int(AdminCountItem.get(TenantKeys(tenant_id).key("apikeys"), ADMIN_COUNT_SK, consistent_read=True).active)


def race(actions: list[Callable[[], Any]], deadline: float) -> list[Any]:
    """Run the actions on threads released at once; each outcome is a return value or the exception raised."""
    start = threading.Barrier(len(actions))
    outcomes: list[Any] = [None] * len(actions)

    def run(index: int) -> None:
        start.wait(timeout=10)
        try:
            outcomes[index] = actions[index]()
        except Exception as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
        assert not thread.is_alive(), "a revocation did not finish in time"
    return outcomes


def test_two_admins_revoking_each_other_at_once_leave_exactly_one(atomic_aws: Settings) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    for round_ in range(ROUNDS):
        keys = ApiKeys(f"race-{round_:03d}")
        first, second = (keys.issue(ADMIN).key.key_id for _ in range(2))
        outcomes = race([functools.partial(keys.revoke, second), functools.partial(keys.revoke, first)], deadline)
        revoked = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(revoked) == 1, outcomes
        assert all(o is not None for o in revoked)
        assert [type(o) for o in outcomes if isinstance(o, Exception)] == [LastAdminKey]
        assert keys.active_admins() == admin_count(keys.tenant_id) == 1


def test_many_admins_revoking_every_other_key_at_once_leave_exactly_one(atomic_aws: Settings) -> None:
    keys = ApiKeys("race-many")
    ids = [keys.issue(ADMIN).key.key_id for _ in range(5)]
    viewer = keys.issue(VIEWER).key.key_id

    def revoke_others(mine: str) -> int:
        return sum(1 for other in ids if other != mine and _revoked(keys, other))

    outcomes = race([functools.partial(revoke_others, mine) for mine in ids], time.monotonic() + DEADLINE_SECONDS)
    assert sum(outcomes) == len(ids) - 1
    assert keys.active_admins() == admin_count("race-many") == 1
    assert keys.revoke(viewer) is not None  # other roles are not counted


def _revoked(keys: ApiKeys, key_id: str) -> bool:
    try:
        return keys.revoke(key_id) is not None
    except LastAdminKey:
        return False


def test_a_tenant_without_a_counter_gets_one_from_its_keys(aws: Settings) -> None:
    """Keys written before the counter existed: the first counted change counts them, then the rule holds."""
    keys = ApiKeys("legacy")
    for key_id in ("aaaaaaaaaaaa", "bbbbbbbbbbbb"):
        ApiKeyItem(pk=TenantKeys("legacy").key("apikey"), sk=key_id, secret_hash="x", role=ADMIN, created_at=1).save()
    assert keys.revoke("aaaaaaaaaaaa") is not None
    assert admin_count("legacy") == 1
    with pytest.raises(LastAdminKey):
        keys.revoke("bbbbbbbbbbbb")
    assert keys.get("bbbbbbbbbbbb").active
    assert keys.revoke("aaaaaaaaaaaa") is None
    keys.issue(ADMIN)
    assert admin_count("legacy") == keys.active_admins() == 2


def test_concurrent_takes_never_exceed_the_quota(atomic_aws: Settings) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    now = time.time()
    for round_ in range(10):
        tenant_id = f"quota-{round_:03d}"
        usage.record_usage(tenant_id, usage.MASS_MESSAGES, 2, now=now)
        takes = race([functools.partial(usage.take, tenant_id, usage.MASS_MESSAGES, 4, now=now)] * 6, deadline)
        assert sorted(takes) == [False] * 4 + [True] * 2
        counts = usage.usage_of([tenant_id], usage.month_of(now))[tenant_id].counts
        assert counts[usage.MASS_MESSAGES] == 4


def test_a_send_that_fails_to_start_gives_its_use_back(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.tenancy import create_tenant

    create_tenant(api, tenant_id="quota-back")

    def conflict(*args: Any, **kwargs: Any) -> None:
        raise BroadcastConflict("broadcast is planning")

    monkeypatch.setattr(broadcast_admin, "start_broadcast", conflict)
    with pytest.raises(BroadcastConflict):
        broadcast_admin.create(
            "quota-back", draft=False, content={"text": {"content": "hi"}}, audience={"all_customers": True}
        )
    assert broadcast_admin.quota_status("quota-back")["used"] == 0
