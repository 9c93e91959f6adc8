"""A listing's cursor becomes a start key only if the Query could have handed it out."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.store.dynamo import InvalidCursor, decode_key, encode_cursor

PARTITION = ("pk", "acme#emp")


def raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def test_a_key_the_query_handed_out_is_accepted():
    key = {"pk": {"S": "acme#emp"}, "sk": {"S": "zhangsan"}}
    assert decode_key(encode_cursor(key), PARTITION) == key
    index_key = key | {"gsi1pk": {"S": "acme#fname#张"}, "gsi1sk": {"S": "张三#wm1"}}
    assert decode_key(encode_cursor(index_key), ("gsi1pk", "acme#fname#张"), ("gsi1sk", "张")) == index_key
    assert decode_key(None, PARTITION) is None


@pytest.mark.parametrize(
    "value",
    [
        [],
        "acme#emp",
        {"pk": {"S": "acme#emp"}},
        {"pk": {"S": "other#emp"}, "sk": {"S": "x"}},
        {"pk": {"S": "acme#emp"}, "sk": {"B": "eA=="}},
        {"pk": {"S": "acme#emp"}, "sk": {"S": ""}},
        {"pk": {"S": "acme#emp"}, "sk": {"S": "x" * 1025}},
        {"pk": {"S": "acme#emp"}, "sk": {"N": "1e9"}},
        {"pk": {"S": "acme#emp"}, "sk": {"S": "x", "N": "1"}},
        {"pk": {"S": "acme#emp"}, "sk": "x"},
        {"pk": {"S": "acme#emp"}, "sk": {"S": "x"}, "extra": {"S": "y"}},
        {"pk": {"S": "acme#emp"}, "sk": {"S": "x"}, "gsi1pk": {"S": "other#fname#a"}},
    ],
)
def test_tampered_or_foreign_keys_are_refused(value):
    with pytest.raises(InvalidCursor):
        decode_key(raw(value), PARTITION)


def test_a_sort_key_outside_the_querys_range_is_refused():
    key = {"pk": {"S": "acme#bc1"}, "sk": {"S": "cust#wm1"}}
    with pytest.raises(InvalidCursor):
        decode_key(encode_cursor(key), ("pk", "acme#bc1"), ("sk", "batch#"))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["pk", "sk", "S", "N", "x"]), inner),
    max_leaves=8,
)


@given(JSON)
def test_any_json_is_a_key_or_an_invalid_cursor(value):
    try:
        key = decode_key(raw(value), PARTITION)
    except InvalidCursor:
        return
    if value is None:
        assert key is None  # a JSON null is no cursor: the listing starts from its beginning
    else:
        assert key is not None
        assert key["pk"] == {"S": "acme#emp"}


@given(st.text(max_size=200))
def test_any_text_is_a_key_or_an_invalid_cursor(cursor):
    with contextlib.suppress(InvalidCursor):
        decode_key(cursor, PARTITION)
