"""Lambda's isolation, locally: every function's invocations run in worker processes of their own.

On AWS each function has its own execution environments, each with its own CPU, handling one invocation at a time,
so bulk work cannot slow the function with a deadline down; threads of one interpreter would share one GIL instead.
A `FunctionProcesses` per function keeps up to the function's maximum concurrency of worker processes, started on
demand (or ahead, when provisioned) and reused while warm. Workers are forked from a forkserver that has imported the
app once, so a cold start costs a fork and the function's own first clients, not an interpreter start. An invocation
that runs past the function's timeout is killed with its process, as Lambda does; the next one gets a fresh process.
The function's memory setting is reported in the Lambda context, not enforced.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

# Past the timeout the worker is given this long to answer before it is killed: the handler's own overrun check
# (LambdaContext says time is up) reports the common case, the kill the stuck one.
KILL_GRACE_SECONDS = 1.0
_WORKER_START_SECONDS = 60.0


@dataclass(frozen=True)
class FunctionSpec:
    """What a worker needs to become one function: where the app is, which handler, its Lambda settings."""

    app_ref: str
    handler_name: str
    function_name: str
    timeout_seconds: int
    memory_mb: int
    niceness: int = 0


@dataclass(frozen=True)
class Invocation:
    """One invocation's answer: the handler's result, whether it failed, and why."""

    result: Any
    failed: bool
    reason: str = ""
    worker_pid: int = 0


def load_app(app_ref: str) -> Any:
    """The Chalice app named by 'module:attribute'."""
    module, _, attribute = app_ref.partition(":")
    return getattr(importlib.import_module(module), attribute or "app")


def _initialise() -> None:
    """A provisioned environment's init, done before any traffic: the process's DynamoDB and SQS clients built (half
    a second of CPU a worker, mostly botocore parsing its JSON models), so its first invocation pays none of it."""
    from chalicelib.config import get_settings
    from chalicelib.queues import sqs_client
    from chalicelib.store.tables import shared_connection

    settings = get_settings()
    shared_connection(settings).client  # noqa: B018 (building the client is the point)
    sqs_client(settings)


def _serve(connection: Connection, spec: FunctionSpec, environment: dict[str, str], provisioned: bool) -> None:
    """A worker's life: become the function (initialised ahead when provisioned), then run one invocation per event
    received until the pipe closes."""
    os.environ.clear()
    os.environ.update(environment)
    if spec.niceness:
        os.nice(spec.niceness)
    from chalice.local import LambdaContext

    from chalicelib.observability import logger

    handler = load_app(spec.app_ref).handler_map[spec.handler_name]
    if provisioned:
        _initialise()
    connection.send(("ready", os.getpid()))
    while True:
        try:
            event = connection.recv()
        except (EOFError, OSError):
            return
        context = LambdaContext(
            function_name=spec.function_name, memory_size=spec.memory_mb, max_runtime_ms=spec.timeout_seconds * 1000
        )
        logger.thread_safe_append_keys(correlation_id=context.aws_request_id)
        try:
            answer: tuple[Any, bool, str] = (handler(event, context), False, "")
        except Exception as error:
            logger.exception("handler failed", extra={"handler": spec.handler_name})
            answer = (None, True, f"{type(error).__name__}: {error}")
        finally:
            logger.thread_safe_remove_keys(["correlation_id"])
        if context.get_remaining_time_in_millis() < 0 and not answer[1]:
            answer = (answer[0], True, "ran past its timeout")
        connection.send(answer)


class _Worker:
    """One warm worker process and the parent's end of its pipe."""

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def kill(self) -> None:
        """End the process now (a timed-out invocation, as Lambda ends it)."""
        self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)

    def close(self) -> None:
        """Let an idle process end: its pipe closes and its loop returns; killed if it does not within a second."""
        self.connection.close()
        self.process.join(1)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def process_context(preload: list[str]) -> multiprocessing.context.ForkServerContext:
    """The forkserver context workers start from, importing `preload` once in the server (fork without a threaded
    parent: the stack's own process runs pollers and servers on threads, which a plain fork would copy mid-lock).
    The server starts with the first process and keeps that first preload list: ask once, with every module."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return context


class FunctionProcesses:
    """Up to `concurrency` worker processes for one function; `invoke` runs one event in an idle one."""

    def __init__(
        self,
        spec: FunctionSpec,
        concurrency: int,
        environment: dict[str, str],
        context: multiprocessing.context.ForkServerContext,
    ) -> None:
        self.spec = spec
        self.concurrency = concurrency
        self.environment = dict(environment)
        self._context = context
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._live = 0
        self._lock = threading.Lock()
        self._available = threading.Condition(self._lock)
        self._closed = False
        self.cold_starts = 0
        self.killed = 0
        self.provisioned = 0

    def pids(self) -> set[int]:
        """The processes this function runs in now."""
        with self._available:
            return {w.pid for w in [*self._idle, *self._busy]}

    def provision(self, count: int) -> threading.Thread:
        """Start and initialise `count` workers ahead of traffic, one after another on a background thread (the
        stack does not wait for them, and their init does not burst the CPU), as Lambda keeps provisioned
        environments; returns the thread."""

        def start() -> None:
            for _ in range(count):
                with self._available:
                    if self._closed or self._live >= self.concurrency:
                        return
                    self._live += 1
                try:
                    worker = self._start_reserved(provisioned=True)
                except Exception:
                    return
                self.provisioned += 1
                self._release(worker, keep=True)

        thread = threading.Thread(target=start, name=f"provision-{self.spec.handler_name}", daemon=True)
        thread.start()
        return thread

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Run `event` through the handler in a worker; waits for a free one when all are busy."""
        worker = self._acquire()
        if worker is None:
            return Invocation(None, True, "function stopped")
        keep = False
        try:
            worker.connection.send(event)
            if not worker.connection.poll(self.spec.timeout_seconds + KILL_GRACE_SECONDS):
                self.killed += 1
                return Invocation(None, True, "ran past its timeout; the process was killed", worker.pid)
            result, failed, reason = worker.connection.recv()
            keep = True
            return Invocation(result, failed, reason, worker.pid)
        except (EOFError, OSError, BrokenPipeError):
            return Invocation(None, True, "the worker process died", worker.pid)
        finally:
            self._release(worker, keep)

    def _acquire(self) -> _Worker | None:
        with self._available:
            while True:
                if self._closed:
                    return None
                if self._idle:
                    worker = self._idle.pop()
                    self._busy.add(worker)
                    return worker
                if self._live < self.concurrency:
                    self._live += 1
                    break
                self._available.wait()
        worker = self._start_reserved(provisioned=False)
        with self._available:
            self._busy.add(worker)
        return worker

    def _start_reserved(self, provisioned: bool) -> _Worker:
        """Start a worker in a slot already counted in `_live`; the slot is given back if it does not start."""
        try:
            return self._start_worker(provisioned)
        except BaseException:
            with self._available:
                self._live -= 1
                self._available.notify()
            raise

    def _release(self, worker: _Worker, keep: bool) -> None:
        with self._available:
            self._busy.discard(worker)
            reuse = keep and not self._closed
            if reuse:
                self._idle.append(worker)
            else:
                self._live -= 1
            self._available.notify()
        if not keep:
            worker.kill()
        elif not reuse:
            worker.close()

    def _start_worker(self, provisioned: bool) -> _Worker:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=_serve,
            args=(child_end, self.spec, self.environment, provisioned),
            name=f"lambda-{self.spec.handler_name}",
            daemon=True,
        )
        process.start()
        child_end.close()
        worker = _Worker(process, parent_end)
        started = time.monotonic()
        while not parent_end.poll(0.5):
            if not process.is_alive() or time.monotonic() - started > _WORKER_START_SECONDS:
                worker.kill()
                raise RuntimeError(f"the worker for {self.spec.handler_name} did not start")
        parent_end.recv()
        if not provisioned:
            self.cold_starts += 1
        return worker

    def stop(self) -> None:
        """End every worker: idle ones let go, busy ones killed mid-invocation (their records come back after the
        visibility timeout, as when Lambda tears an environment down), so a stop never waits for a long sync."""
        with self._available:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
            self._live -= len(idle)
            self._available.notify_all()
        for worker in busy:
            worker.kill()
        for worker in idle:
            worker.close()
