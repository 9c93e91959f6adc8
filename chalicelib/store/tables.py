"""Binds PynamoDB models to the tables of the current stage, lazily.

Models declare which table of `chalicelib.resources` they live in with `@on_table(...)`; the physical table name
and region come from the settings when a repository is opened, not at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from pynamodb.connection import Connection
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings, get_settings

M = TypeVar("M", bound=type[Model])

_REGISTRY: list[tuple[type[Model], resources.Table]] = []
_CONNECTIONS: dict[tuple[str, str], Connection] = {}
_CONNECTIONS_LOCK = threading.Lock()


def on_table(table: resources.Table) -> Callable[[M], M]:
    """Class decorator: this model's items live in `table`."""

    def register(model: M) -> M:
        model.Meta.table_name = table.name
        _REGISTRY.append((model, table))
        return model

    return register


def bind_models(settings: Settings | None = None) -> Settings:
    """Point every registered model at the stage's tables, region and endpoint; cheap when nothing changed.

    PynamoDB caches a connection per model, so a model first used against one endpoint (AWS, or a local moto
    server) would keep it after the environment changed; the endpoint is part of the binding for that reason.
    """
    settings = settings or get_settings()
    for model, table in _REGISTRY:
        name = settings.table(table)
        meta = model.Meta
        bound = (meta.table_name, getattr(meta, "region", None), getattr(meta, "host", None))
        if bound != (name, settings.region, settings.dynamodb_endpoint):
            meta.table_name = name
            meta.region = settings.region
            meta.host = settings.dynamodb_endpoint
            model._connection = None
    return settings


def transaction_connection(settings: Settings) -> Connection:
    """One PynamoDB connection per region and endpoint for TransactWrite and raw batch calls: a new one builds a new
    botocore client (a quarter of a second of CPU) every time, and one keyed by region alone would keep talking to
    AWS after the local stack pointed the endpoint at moto."""
    key = (settings.region, settings.dynamodb_endpoint or "")
    with _CONNECTIONS_LOCK:
        connection = _CONNECTIONS.get(key)
        if connection is None:
            connection = _CONNECTIONS[key] = Connection(region=settings.region, host=settings.dynamodb_endpoint)
        return connection
