"""The callback XML parser bounds depth and element count as it parses: a tree over either bound is MalformedXml,
the bad-XML answer of the callback, and never reaches the event's serializer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.wecom.crypto import MAX_XML_DEPTH, MAX_XML_ELEMENTS, MalformedXml, parse_xml
from chalicelib.wecom.events import parse_event

HEAD = "<ToUserName>ww1</ToUserName><CreateTime>1700000000</CreateTime><MsgType>event</MsgType>"


def nested(depth: int) -> str:
    """An event whose extra field nests `depth` elements in all (counting <xml>)."""
    return f"<xml>{HEAD}" + "<a>" * (depth - 1) + "x" + "</a>" * (depth - 1) + "</xml>"


@given(st.integers(MAX_XML_DEPTH + 1, 50_000))
def test_xml_nested_past_the_bound_is_malformed(depth: int) -> None:
    with pytest.raises(MalformedXml, match=f"deeper than {MAX_XML_DEPTH}"):
        parse_xml("<a>" * depth + "</a>" * depth)


def test_an_event_nested_to_the_bound_parses_and_serializes() -> None:
    event = parse_event(nested(MAX_XML_DEPTH))
    assert event.to_message()["event"]["fields"]["a"].count("<a>") == MAX_XML_DEPTH - 2
    with pytest.raises(MalformedXml):
        parse_event(nested(MAX_XML_DEPTH + 1))


def test_xml_with_more_elements_than_the_bound_is_malformed() -> None:
    items = "<Item>u</Item>" * (MAX_XML_ELEMENTS - 5)
    assert len(parse_xml(f"<xml>{HEAD}<MemChangeList>{items}</MemChangeList></xml>")) == 4
    with pytest.raises(MalformedXml, match=f"more than {MAX_XML_ELEMENTS} elements"):
        parse_xml(f"<xml>{HEAD}<MemChangeList>{items}<Item>u</Item></MemChangeList></xml>")


def test_wecoms_deepest_event_is_well_within_the_bound() -> None:
    xml = (
        f"<xml>{HEAD}<Event>change_contact</Event><ChangeType>update_user</ChangeType><UserID>u</UserID>"
        "<ExtAttr><Item><Name>n</Name><Type>0</Type><Text><Value>v</Value></Text></Item></ExtAttr></xml>"
    )
    assert parse_event(xml).kind == "change_contact/update_user"
