"""Shared fixtures (an in-process moto with every declared table and queue, and settings pointing at it) and how
xdist spreads the tests over its workers."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import settings as hypothesis_settings
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

from chalicelib.config import Settings, get_settings
from chalicelib.store.tables import bind_models
from local.moto_partition_query import transact_backing_up_partitions
from local.provision import create_resources

pytest_plugins = ["tests.tenancy"]

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "cn-north-1")

# Property tests draw the same examples on every run, so one CI run judges the code, not the draw; `explore` draws
# fresh, many more examples (HYPOTHESIS_PROFILE=explore) to look for new counterexamples before they are committed.
hypothesis_settings.register_profile("repeatable", derandomize=True)
hypothesis_settings.register_profile("explore", max_examples=2000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `-n`, each module's tests run on one worker (xdist's loadscope): a module-scoped environment (the e2e
    broadcast run, the demo stack, the pump's queues) is then built once, not once on every worker that gets one of
    its tests. An explicit `--dist` other than the default load is left alone."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    return LoadScopeScheduling(config, log)


@pytest.fixture(scope="session")
def boto3_session() -> boto3.Session:
    """One boto3 session per test process: loading its service models takes most of a second, so each test's clients
    reuse them instead of a fresh session's."""
    return boto3.Session()


def serialise_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the test ends: one in-process moto DynamoDB request at a time, transactions backing up partitions."""
    lock, action = threading.RLock(), DynamoHandler.call_action

    @functools.wraps(action)
    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", transact_backing_up_partitions)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, boto3_session: boto3.Session) -> Iterator[Settings]:
    """moto in-process with the stack's tables and queues; yields the settings that point at them. moto's state is
    fresh for every test; only the parsed service models are shared. DynamoDB requests run one at a time, as on the
    local stack's server (`local.aws.SerialDynamoDB`): DynamoDB applies each request atomically and moto does not (a
    transaction deep-copying a table while another thread writes to it fails), and transactions back up only the
    partitions they name, as there."""
    serialise_dynamodb(monkeypatch)
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    monkeypatch.setenv("AWS_REGION", "cn-north-1")
    with mock_aws():
        boto3.DEFAULT_SESSION = boto3_session  # moto puts the previous default session back when the mock stops
        settings = get_settings()
        create_resources(boto3.client("dynamodb"), boto3.client("sqs"), settings)
        bind_models(settings)
        yield settings
