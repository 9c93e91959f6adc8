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
