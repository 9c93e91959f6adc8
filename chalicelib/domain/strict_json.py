"""Decoding JSON from outside (request bodies, paging cursors) so that no input can crash the decoder or what follows.

Python's `json` accepts much that nothing downstream can handle: nesting deep enough for a RecursionError, integers
past the interpreter's str-digits limit (a ValueError that is not a JSONDecodeError), NaN and Infinity, numbers too
large for DynamoDB, strings holding lone surrogates (they parse, then fail when written as UTF-8), UTF-16/32 bytes
and duplicate keys (last one wins, so two readers of one body can disagree). `loads` refuses each of these with an
`InvalidJson` naming the problem, before any value reaches a handler.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

MAX_DEPTH = 32
MAX_NUMBER_CHARS = 32
INT_LIMIT = 2**63
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidJson(ValueError):
    """Text that is not JSON this service accepts; the message says why."""


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The value of `raw` (UTF-8 bytes or text), or InvalidJson naming the problem."""
    text = _text(raw)
    _check_depth(text, max_depth)
    try:
        value = json.loads(
            text,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as error:
        raise InvalidJson(f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}") from None
    _check_strings(value, "")
    return value


def _text(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJson(f"not UTF-8: invalid byte at offset {error.start}") from None


def _check_depth(text: str, max_depth: int) -> None:
    """Count brackets outside strings before parsing, so that depth never reaches the recursive decoder."""
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > max_depth:
            raise InvalidJson(f"nested deeper than {max_depth} levels")


def _int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        _refuse_number(literal)
    value = int(literal)
    if not -INT_LIMIT < value < INT_LIMIT:
        _refuse_number(literal)
    return value


def _float(literal: str) -> float:
    value = float(literal)
    if len(literal) > MAX_NUMBER_CHARS or not math.isfinite(value) or abs(value) >= INT_LIMIT:
        _refuse_number(literal)
    return value


def _constant(name: str) -> NoReturn:
    raise InvalidJson(f"{name} is not a JSON number")


def _refuse_number(literal: str) -> NoReturn:
    shown = literal if len(literal) <= MAX_NUMBER_CHARS else f"{literal[:12]}… ({len(literal)} characters)"
    raise InvalidJson(f"number out of range: {shown} (at most {MAX_NUMBER_CHARS} characters, finite, below 2^63)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise InvalidJson(f"duplicate key {_short(key)} in an object")
        value[key] = item
    return value


def _check_strings(value: Any, path: str) -> None:
    """Every key and string is valid Unicode: a lone surrogate (`"\\ud800"`) could be neither stored nor sent."""
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise InvalidJson(f"a lone surrogate (\\ud800-\\udfff) in {_place(path)}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise InvalidJson(f"a lone surrogate (\\ud800-\\udfff) in a key of {_place(path)}")
            _check_strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, f"{path}[]")


def _place(path: str) -> str:
    return f"field {_short(path)}" if path and path != "[]" else "the body"


def _short(text: str) -> str:
    """`text` quoted for a message, cut at 64 characters."""
    return repr(text if len(text) <= 64 else f"{text[:64]}…")
