"""Typed request bodies: a frozen dataclass per endpoint, validated here and described in OpenAPI from the same class.

Declare a body as a dataclass whose fields are `str`, `int`, `bool`, `list[str]` or `list[dict[str, Any]]` (objects
whose inner shape the handler checks), optionally `| None` with a default, and whose constraints sit in
`field(metadata=rule(...))`; `parse_body(request, Body)` answers precise 4xx errors for bad or hostile JSON (see
`domain.strict_json`), wrong types, unknown fields and bodies over MAX_BODY_BYTES, and `json_schema(Body)` is what the
OpenAPI document shows, so the two cannot drift. A `pattern` is anchored (`^…$`, for JSON Schema readers) and checked
with `re.fullmatch`, so a trailing newline never passes. Plain dataclasses cost nothing at cold start.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

from chalice import BadRequestError, ChaliceViewError
from chalice.app import Request

from chalicelib.domain import strict_json

MAX_BODY_BYTES = 64 * 1024
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
"""The pattern of a name or label: one line of text, no control characters (newline, tab, NUL...)."""

B = TypeVar("B")


class RequestEntityTooLargeError(ChaliceViewError):
    STATUS_CODE = 413


@dataclass(frozen=True)
class NoBody:
    """The body of a route that takes none: if one is sent, it must be `{}` (so it is parsed like any other)."""


def rule(
    *,
    description: str | None = None,
    pattern: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    enum: tuple[str, ...] | None = None,
    max_items: int | None = None,
) -> dict[str, Any]:
    """Constraints of one field, in JSON Schema terms."""
    schema = {
        "description": description,
        "pattern": pattern,
        "minLength": min_length,
        "maxLength": max_length,
        "minimum": minimum,
        "maximum": maximum,
        "enum": list(enum) if enum is not None else None,
        "maxItems": max_items,
    }
    return {"schema": {k: v for k, v in schema.items() if v is not None}}


_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", bool: "boolean", dict: "object"}
_ARRAY_OF = {str: "strings", int: "integers", bool: "booleans", dict: "objects"}


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the base type, whether None is allowed)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def _fields(cls: type) -> list[tuple[dataclasses.Field[Any], Any, bool]]:
    hints = typing.get_type_hints(cls)
    return [(f, *_unwrap(hints[f.name])) for f in dataclasses.fields(cls)]


def _item_type(list_type: Any) -> Any:
    """The element type of `list[X]`; `list[dict[str, Any]]` counts as objects (checked further by the handler)."""
    item = typing.get_args(list_type)[0]
    return typing.get_origin(item) or item


def _type_schema(base: Any) -> dict[str, Any]:
    if typing.get_origin(base) is list:
        return {"type": "array", "items": {"type": _JSON_TYPES[_item_type(base)]}}
    return {"type": _JSON_TYPES[base]}


def json_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.0 flavour) of a body class."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f, base, nullable in _fields(cls):
        prop = {**_type_schema(base), **f.metadata.get("schema", {})}
        if typing.get_origin(base) is list:
            prop["items"].update({k: prop.pop(k) for k in ("pattern", "minLength", "maxLength") if k in prop})
        if nullable:
            prop["nullable"] = True
        properties[f.name] = prop
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _check_value(name: str, value: Any, base: Any, constraints: dict[str, Any]) -> str | None:
    """The error for one field's value, or None when it is valid."""
    if typing.get_origin(base) is list:
        item_type = _item_type(base)
        if not isinstance(value, list):
            return f"field '{name}' must be an array of {_ARRAY_OF[item_type]}"
        if len(value) > constraints.get("maxItems", len(value)):
            return f"field '{name}' has more than {constraints['maxItems']} items"
        for item in value:
            item_constraints = {k: v for k, v in constraints.items() if k != "maxItems"}
            problem = _check_value(f"{name}[]", item, item_type, item_constraints)
            if problem:
                return problem
        return None
    if base is dict:
        return None if isinstance(value, dict) else f"field '{name}' must be an object"
    if base is bool and not isinstance(value, bool):
        return f"field '{name}' must be a boolean"
    if base is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"field '{name}' must be an integer"
    if base is str and not isinstance(value, str):
        return f"field '{name}' must be a string"
    if "enum" in constraints and value not in constraints["enum"]:
        return f"field '{name}' must be one of {', '.join(constraints['enum'])}"
    if base is int:
        if value < constraints.get("minimum", value):
            return f"field '{name}' must be at least {constraints['minimum']}"
        if value > constraints.get("maximum", value):
            return f"field '{name}' must be at most {constraints['maximum']}"
    if base is str:
        if len(value) < constraints.get("minLength", 0):
            return f"field '{name}' must have at least {constraints['minLength']} characters"
        if len(value) > constraints.get("maxLength", len(value)):
            return f"field '{name}' must have at most {constraints['maxLength']} characters"
        if "pattern" in constraints and not re.fullmatch(constraints["pattern"], value):
            return f"field '{name}' must match {constraints['pattern']}"
    return None


def validate(cls: type[B], data: Any) -> B:
    """Build `cls` from decoded JSON, or raise BadRequestError naming every problem."""
    if not isinstance(data, dict):
        raise BadRequestError("the body must be a JSON object")
    problems: list[str] = []
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for f, base, nullable in _fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"field '{f.name}' is required")
            continue
        value = data[f.name]
        if value is None:
            if not nullable:
                problems.append(f"field '{f.name}' may not be null")
            continue
        problem = _check_value(f.name, value, base, f.metadata.get("schema", {}))
        if problem:
            problems.append(problem)
        else:
            values[f.name] = value
    if problems:
        raise BadRequestError("; ".join(problems))
    return cls(**values)


def parse_body(request: Request, cls: type[B]) -> B:
    """The request's JSON body as `cls`; 413 over MAX_BODY_BYTES, 400 for anything malformed or invalid."""
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise RequestEntityTooLargeError(f"the body exceeds {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return validate(cls, {})
    try:
        data = strict_json.loads(raw)
    except strict_json.InvalidJson as error:
        raise BadRequestError(f"the body is not acceptable JSON: {error}") from None
    return validate(cls, data)


def int_param(request: Request, name: str, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter within bounds, or 400."""
    raw = (request.query_params or {}).get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,9}", raw) or not minimum <= int(raw) <= maximum:
        raise BadRequestError(f"query parameter '{name}' must be an integer from {minimum} to {maximum}")
    return int(raw)


def str_param(request: Request, name: str, max_length: int = 512) -> str | None:
    """A string query parameter of bounded length, or 400."""
    raw = (request.query_params or {}).get(name)
    if raw is not None and len(raw) > max_length:
        raise BadRequestError(f"query parameter '{name}' is longer than {max_length} characters")
    return raw
