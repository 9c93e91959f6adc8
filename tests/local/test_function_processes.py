"""Each function's invocations in worker processes of its own, as Lambda's execution environments: a process apart
from the caller, reused while warm, at most the function's concurrency at once, killed when an invocation runs past
the function's timeout, replaced when it dies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from local.function_processes import FunctionProcesses, FunctionSpec, process_context

pytestmark = pytest.mark.e2e

APP = "tests.local.lambda_app:app"


@pytest.fixture
def function() -> Iterator[FunctionProcesses]:
    spec = FunctionSpec(APP, "describe", "isolationtest-local-describe", timeout_seconds=2, memory_mb=512)
    processes = FunctionProcesses(
        spec, concurrency=2, environment={**os.environ, "ISOLATION_MARKER": "set"}, context=process_context([])
    )
    yield processes
    processes.stop()


def test_an_invocation_runs_in_a_process_of_its_own_with_the_functions_context(function):
    answer = function.invoke({})
    assert not answer.failed
    result = answer.result
    assert result["pid"] != os.getpid()
    assert result["pid"] == answer.worker_pid
    assert result["function_name"] == "isolationtest-local-describe"
    assert result["memory"] == 512
    assert 0 < result["remaining_ms"] <= 2000
    assert result["marker"] == "set"


def test_a_warm_worker_is_reused_and_concurrency_is_bounded(function):
    first = function.invoke({}).result["pid"]
    assert function.invoke({}).result["pid"] == first
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(function.invoke, [{"sleep": 0.3}] * 4))
    pids = {a.result["pid"] for a in answers}
    assert not any(a.failed for a in answers)
    assert len(pids) == 2
    assert function.cold_starts == 2


def test_a_handler_error_fails_the_invocation_and_keeps_the_worker(function):
    pid = function.invoke({}).result["pid"]
    failed = function.invoke({"raise": True})
    assert failed.failed
    assert "asked to fail" in failed.reason
    assert function.invoke({}).result["pid"] == pid


def test_an_invocation_past_the_timeout_is_killed_and_the_next_one_gets_a_fresh_process(function):
    pid = function.invoke({}).result["pid"]
    stuck = function.invoke({"sleep": 30})
    assert stuck.failed
    assert "timeout" in stuck.reason
    assert function.killed == 1
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    fresh = function.invoke({})
    assert not fresh.failed
    assert fresh.result["pid"] != pid


def test_a_worker_that_dies_fails_its_invocation_and_is_replaced(function):
    dead = function.invoke({"exit": True})
    assert dead.failed
    assert "died" in dead.reason
    assert not function.invoke({}).failed
