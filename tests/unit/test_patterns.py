"""Every pattern-checked body field of the API matches its whole value: a valid value passes and the same value with a
trailing newline (which `$` lets through under `re.match`/`re.search`) is refused."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import typing
from typing import Any

import pytest
from chalice import BadRequestError
from hypothesis import given, settings
from hypothesis import strategies as st

import chalicelib.api
from chalicelib.api.schema import validate


def _pattern_fields() -> list[tuple[type, str, str, bool]]:
    """(body class, field, pattern, whether the field is a list) for every field with a pattern in chalicelib.api."""
    found = []
    for module_info in pkgutil.iter_modules(chalicelib.api.__path__):
        module = importlib.import_module(f"chalicelib.api.{module_info.name}")
        for cls in vars(module).values():
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__):
                continue
            hints = typing.get_type_hints(cls)
            for f in dataclasses.fields(cls):
                pattern = f.metadata.get("schema", {}).get("pattern")
                if pattern:
                    found.append((cls, f.name, pattern, "list" in str(hints[f.name])))
    return found


FIELDS = _pattern_fields()


def test_the_pattern_fields_are_found() -> None:
    names = {(cls.__name__, name) for cls, name, _, _ in FIELDS}
    assert {("CreateTenant", "name"), ("CreateChannel", "state"), ("TransferBody", "handover_userid")} <= names
    assert len(FIELDS) > 30


def _problems(cls: type, name: str, value: Any) -> str:
    try:
        validate(cls, {name: value})
    except BadRequestError as error:
        return str(error)
    return ""


@pytest.mark.parametrize(
    ("cls", "name", "pattern", "is_list"), FIELDS, ids=[f"{c.__name__}.{n}" for c, n, *_ in FIELDS]
)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_a_trailing_newline_is_refused_in_every_pattern_field(
    cls: type, name: str, pattern: str, is_list: bool, data: st.DataObject
) -> None:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    longest = field.metadata["schema"].get("maxLength")
    # one shorter than the field's limit, so the value with its newline is refused for the newline, not the length
    valid = data.draw(st.from_regex(pattern, fullmatch=True).filter(lambda v: longest is None or len(v) < longest))
    wrap = (lambda v: [v]) if is_list else (lambda v: v)
    assert "must match" not in _problems(cls, name, wrap(valid))
    assert f"'{name}{'[]' if is_list else ''}' must match" in _problems(cls, name, wrap(valid + "\n"))
