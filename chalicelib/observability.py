"""Structured JSON logs and metrics (Powertools for AWS Lambda), with tenant and correlation ids.

One logger and one metrics object for the whole app. Secrets never go through here: callers log ids and counts,
never request bodies, tokens or keys.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

SERVICE = "qiwei-reach"

logger = Logger(service=SERVICE)


def bind_context(*, tenant_id: str | None = None, correlation_id: str | None = None, **extra: str) -> None:
    """Attach ids to every log line of the current unit of work."""
    keys = {k: v for k, v in {"tenant_id": tenant_id, "correlation_id": correlation_id, **extra}.items() if v}
    logger.append_keys(**keys)


def clear_context() -> None:
    logger.clear_state()


METRICS_NAMESPACE = "QiweiReach"


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
