from dataclasses import dataclass, field

import pytest
from chalice import BadRequestError

from chalicelib.api.schema import json_schema, rule, validate


@dataclass(frozen=True)
class Body:
    name: str = field(metadata=rule(min_length=1, max_length=5))
    count: int = field(default=1, metadata=rule(minimum=1, maximum=10))
    tags: list[str] = field(default_factory=list, metadata=rule(max_items=2, pattern=r"^[a-z]+$"))
    note: str | None = field(default=None, metadata=rule(enum=("a", "b")))
    flag: bool = False


def test_valid_bodies_become_the_dataclass():
    assert validate(Body, {"name": "x"}) == Body("x")
    assert validate(Body, {"name": "x", "count": 3, "tags": ["ab"], "note": None, "flag": True}) == Body(
        "x", 3, ["ab"], None, True
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "field 'name' is required"),
        ({"name": ""}, "at least 1 characters"),
        ({"name": "toolong"}, "at most 5 characters"),
        ({"name": "x", "count": 1.5}, "'count' must be an integer"),
        ({"name": "x", "count": False}, "'count' must be an integer"),
        ({"name": "x", "count": 11}, "at most 10"),
        ({"name": "x", "tags": "ab"}, "array of strings"),
        ({"name": "x", "tags": ["a", "b", "c"]}, "more than 2 items"),
        ({"name": "x", "tags": ["A"]}, "'tags[]' must match"),
        ({"name": "x", "note": "c"}, "must be one of a, b"),
        ({"name": "x", "flag": "yes"}, "must be a boolean"),
        ({"name": None}, "may not be null"),
        ({"name": "x", "extra": 1, "more": 2}, "unknown field(s): extra, more"),
    ],
)
def test_invalid_bodies_are_named_precisely(data, message):
    with pytest.raises(BadRequestError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        validate(Body, data)


def test_every_problem_is_reported_at_once():
    with pytest.raises(BadRequestError) as raised:
        validate(Body, {"count": 0, "bogus": 1})
    assert str(raised.value).count(";") == 2


def test_the_openapi_schema_comes_from_the_same_class():
    schema = json_schema(Body)
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["count"] == {"type": "integer", "minimum": 1, "maximum": 10}
    assert schema["properties"]["tags"] == {
        "type": "array",
        "items": {"type": "string", "pattern": "^[a-z]+$"},
        "maxItems": 2,
    }
    assert schema["properties"]["note"] == {"type": "string", "enum": ["a", "b"], "nullable": True}
