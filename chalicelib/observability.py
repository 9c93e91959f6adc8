"""Structured JSON logs and metrics (Powertools for AWS Lambda), with tenant and correlation ids.

One logger and one metrics object for the whole app. Secrets never go through here: callers log ids and counts,
never request bodies, tokens or keys.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from chalice import ConvertToMiddleware

SERVICE = "qiwei-reach"

logger = Logger(service=SERVICE)


_bound = threading.local()


def _bound_keys() -> set[str]:
    if not hasattr(_bound, "keys"):
        _bound.keys = set()
    return _bound.keys


def bind_context(*, tenant_id: str | None = None, correlation_id: str | None = None, **extra: str) -> None:
    """Attach ids to every log line of the current unit of work (until the next invocation begins).

    Keys are per thread: on Lambda one invocation runs at a time, but the local pump runs handlers concurrently in
    threads of one process, and a process-wide key would put one tenant's id on another's lines."""
    keys = {k: v for k, v in {"tenant_id": tenant_id, "correlation_id": correlation_id, **extra}.items() if v}
    _bound_keys().update(keys)
    logger.thread_safe_append_keys(**keys)


def clear_context() -> None:
    logger.clear_state()
    logger.thread_safe_clear_keys()
    _bound_keys().clear()


def _fresh_invocation(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    with_lambda_context = logger.inject_lambda_context(handler)

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        try:
            return handler(event, context) if context is None else with_lambda_context(event, context)
        finally:
            bound = _bound_keys()
            logger.thread_safe_remove_keys(sorted(bound))
            bound.clear()

    return run


def invocation_context_middleware() -> ConvertToMiddleware:
    """Chalice middleware for every handler: the ids an invocation binds are dropped when it ends, so a warm
    Lambda never logs one tenant's id on another's lines, and the Lambda context (function, request id, cold start)
    is added to each line. Keys appended per thread (the local pump's correlation id) are left alone."""
    return ConvertToMiddleware(_fresh_invocation)


METRICS_NAMESPACE = "QiweiReach"
BATCH_FAILED_METRIC = "BroadcastBatchFailed"
ALERT_METRICS = (BATCH_FAILED_METRIC,)
"""Metrics that mean an operator must look: infra/ puts a CloudWatch alarm on each (dimension `service`)."""


def record_wecom_call(*, api: str, errcode: str, duration_ms: float, attempt: int) -> None:
    """One EMF line per HTTP exchange with WeCom: calls, errors and latency by API, and calls by API and errcode.

    `errcode` is WeCom's code as text, or "transport" when no answer came. The line is written at once (not at the end
    of the invocation), so no handler has to remember to flush, and each API keeps its own dimensions. Powertools'
    metrics module is imported here, on the first call, so functions that never call WeCom do not load it.
    """
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="api", value=api)
    metrics.add_dimensions(api=api, errcode=errcode)
    metrics.add_metric(name="WeComCalls", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="WeComErrors", unit=MetricUnit.Count, value=0 if errcode == "0" else 1)
    metrics.add_metric(name="WeComLatency", unit=MetricUnit.Milliseconds, value=duration_ms)
    metrics.add_metadata(key="attempt", value=attempt)
    metrics.flush_metrics()


def alert(message: str, metric: str, **fields: Any) -> None:
    """An operator must look: one ERROR line with `fields` and one count of `metric` (one of `ALERT_METRICS`, each
    watched by an alarm in the deployed stack)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    if metric not in ALERT_METRICS:
        raise ValueError(f"{metric} has no alarm; add it to ALERT_METRICS")
    logger.error(message, extra=fields)
    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
