"""The OpenAPI 3.0 document of the admin API, served at /openapi.json.

Every admin route declares itself here when it is decorated with `chalicelib.api.auth.admin_route` (method, path,
summary, roles, body class): one registry, filled next to each blueprint's routes, so the document lists exactly the
routes the app has; a test compares the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalice import Blueprint

from chalicelib.api.path_params import PATH_PARAMS, names_in
from chalicelib.api.schema import MAX_BODY_BYTES, json_schema

docs = Blueprint(__name__)

ERROR_STATUSES: dict[str, str] = {
    "400": "Malformed or invalid request",
    "401": "Missing API key",
    "402": "The tenant's period ended, or its plan lacks the feature: payment required",
    "403": "Invalid or revoked key, a role that may not do this, or a suspended tenant",
    "404": "No such resource in the caller's tenant, or a path parameter not of its shape",
    "409": "Conflicts with the resource's current state",
    "413": f"Body over {MAX_BODY_BYTES} bytes",
}


@dataclass(frozen=True)
class Operation:
    """One admin route as documented."""

    method: str
    path: str
    summary: str
    roles: tuple[str, ...]
    tag: str
    body: type | None = None
    success_status: int = 200
    query: tuple[tuple[str, str, str], ...] = ()

    @property
    def operation_id(self) -> str:
        words = re.sub(r"[{}]", "", self.path).strip("/").replace("-", "_").split("/")
        return "_".join([self.method.lower(), *words])


REGISTRY: dict[tuple[str, str], Operation] = {}


def declare(operation: Operation) -> None:
    """Add an operation to the document; declaring one route twice is a programming error."""
    key = (operation.method, operation.path)
    if key in REGISTRY:
        raise ValueError(f"{operation.method} {operation.path} is declared twice")
    REGISTRY[key] = operation


def _operation(op: Operation) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": PATH_PARAMS[name].pattern},
        }
        for name in names_in(op.path)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": description}
        for name, kind, description in op.query
    ]
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": f"Roles: {', '.join(op.roles)}.",
        "tags": [op.tag],
        "security": [{"apiKey": []}],
        "responses": {
            str(op.success_status): {
                "description": "OK",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **{
                status: {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for status, text in ERROR_STATUSES.items()
            },
        },
    }
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": json_schema(op.body)}}}
    return doc


def document() -> dict[str, Any]:
    """The whole document, built from the registry."""
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in sorted(REGISTRY.items(), key=lambda item: (item[0][1], item[0][0])):
        paths.setdefault(path, {})[method.lower()] = _operation(op)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Qiwei Reach admin API",
            "version": "1",
            "description": "Tenant admins' API; send `Authorization: Bearer qrk.<tenant>.<key_id>.<secret>`.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}},
                }
            },
        },
    }


@docs.route("/openapi.json", methods=["GET"])
def get_openapi() -> dict[str, Any]:
    return document()
