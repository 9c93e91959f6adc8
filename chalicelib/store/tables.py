"""Binds PynamoDB models to the tables of the current stage, lazily.

Models declare which table of `chalicelib.resources` they live in with `@on_table(...)`; the physical table name
and region come from the settings when a repository is opened, not at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from pynamodb.connection import Connection
from pynamodb.connection.base import MetaTable
from pynamodb.constants import (
    ATTR_DEFINITIONS,
    ATTR_NAME,
    ATTR_TYPE,
    GLOBAL_SECONDARY_INDEXES,
    INDEX_NAME,
    KEY_SCHEMA,
    KEY_TYPE,
    STRING,
    TABLE_NAME,
)
from pynamodb.models import Model
from pynamodb.types import HASH, RANGE

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
    server) would keep it after the environment changed; the endpoint is part of the binding for that reason. Every
    model talks through the process's `shared_connection`.
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
            model._get_connection().connection = shared_connection(settings)
    return settings


def shared_connection(settings: Settings) -> Connection:
    """The process's one PynamoDB connection (one botocore client) per region and endpoint, for every model and for
    TransactWrite and raw batch calls. PynamoDB would otherwise give each model a connection of its own, each
    building a botocore client (a quarter to half a second of CPU, mostly parsing botocore's JSON models): a cold
    new-friend worker spent 3 of its 4 seconds there before its first welcome. It knows every declared table's keys
    and indexes (from `resources`), whichever model asks. Keyed by endpoint too, so a model first used against AWS
    does not keep talking to it after the local stack pointed the endpoint at moto."""
    names = tuple(settings.table(table) for table in resources.TABLES)
    key = (settings.region, settings.dynamodb_endpoint or "", names)
    with _CONNECTIONS_LOCK:
        connection = _CONNECTIONS.get(key)
        if connection is None:
            connection = Connection(region=settings.region, host=settings.dynamodb_endpoint)
            for name, table in zip(names, resources.TABLES, strict=True):
                connection.add_meta_table(_meta_table(name, table))
            _CONNECTIONS[key] = connection
        return connection


def _meta_table(name: str, table: resources.Table) -> MetaTable:
    """PynamoDB's view of a declared table: its keys and its indexes' keys (all string attributes)."""

    def key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
        keys = [{ATTR_NAME: hash_key, KEY_TYPE: HASH}]
        return keys + ([{ATTR_NAME: range_key, KEY_TYPE: RANGE}] if range_key else [])

    indexes = [{INDEX_NAME: i.name, KEY_SCHEMA: key_schema(i.hash_key, i.range_key)} for i in table.indexes]
    attributes = {table.hash_key, table.range_key, *(a for i in table.indexes for a in (i.hash_key, i.range_key))}
    return MetaTable(
        {
            TABLE_NAME: name,
            KEY_SCHEMA: key_schema(table.hash_key, table.range_key),
            ATTR_DEFINITIONS: [{ATTR_NAME: a, ATTR_TYPE: STRING} for a in sorted(a for a in attributes if a)],
            GLOBAL_SECONDARY_INDEXES: indexes,
        }
    )
