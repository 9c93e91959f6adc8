"""Strict JSON decoding: what `json` accepts but nothing downstream can handle is refused with a precise reason, and
everything else decodes exactly as `json` would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.strict_json import MAX_DEPTH, InvalidJson, loads

scalars = st.none() | st.booleans() | st.integers(-(2**63) + 1, 2**63 - 1) | st.text()
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=30
)


@given(documents)
def test_ordinary_json_decodes_as_json_does(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert loads(text.encode()) == json.loads(text)


@given(st.integers(MAX_DEPTH + 1, 20_000), st.sampled_from(["[", '{"k":']))
def test_any_nesting_past_the_bound_is_refused_without_recursion(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    with pytest.raises(InvalidJson, match=f"deeper than {MAX_DEPTH}"):
        loads((opener * depth + "1" + closer * depth).encode())


def test_nesting_at_the_bound_is_accepted_and_brackets_inside_strings_do_not_count() -> None:
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert loads(json.dumps({"a": "[" * 1000 + '\\"{{{'})) == {"a": "[" * 1000 + '\\"{{{'}


@given(st.integers(33, 20_000))
def test_long_number_literals_are_refused_before_conversion(digits: int) -> None:
    for literal in ("9" * digits, "-" + "9" * digits, "0." + "1" * digits, "1" * digits + "e2"):
        with pytest.raises(InvalidJson, match="number out of range"):
            loads('{"x": ' + literal + "}")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"x": 1e999}', "number out of range: 1e999"),
        ('{"x": -1e999}', "number out of range"),
        ('{"x": 9223372036854775808}', "number out of range"),
        ('{"x": 1e19}', "number out of range"),
        ('{"x": NaN}', "NaN is not a JSON number"),
        ('{"x": Infinity}', "Infinity is not a JSON number"),
        ('{"x": [-Infinity]}', "-Infinity is not a JSON number"),
        ('{"x": "\\ud800"}', "lone surrogate .* in field 'x'"),
        ('{"x": {"y": ["ok", "\\udc00"]}}', "lone surrogate .* in field 'x.y\\[\\]'"),
        ('{"\\ud800": 1}', "lone surrogate .* in a key of the body"),
        ('["\\ud800"]', "lone surrogate .* in the body"),
        ('{"role": "viewer", "role": "admin"}', "duplicate key 'role'"),
        ('{"a": {"b": 1, "b": 1}}', "duplicate key 'b'"),
        ('\ufeff{"x": 1}', "BOM"),
        ('{"x": ', "malformed JSON at line 1 column 7"),
    ],
)
def test_what_cannot_be_handled_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidJson, match=reason):
        loads(text.encode())


@pytest.mark.parametrize(
    "raw",
    [b'{"x": "\xff"}', b'{"x": "\xed\xa0\x80"}', '{"x": 1}'.encode("utf-16"), '{"x": 1}'.encode("utf-32")],
    ids=["invalid-byte", "encoded-surrogate", "utf-16", "utf-32"],
)
def test_only_utf8_bytes_are_json(raw: bytes) -> None:
    with pytest.raises(InvalidJson, match="not UTF-8: invalid byte at offset"):
        loads(raw)


def test_surrogate_pairs_and_large_finite_numbers_within_bounds_are_fine() -> None:
    assert loads('{"x": "\\ud83d\\ude00", "n": 9223372036854775807, "f": 1.5e18}') == {
        "x": "😀",
        "n": 2**63 - 1,
        "f": 1.5e18,
    }
