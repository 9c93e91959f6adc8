"""Parsing WeCom's event XML (official sample shapes) into typed events, their dedupe keys and SQS messages."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.wecom.crypto import MalformedXml
from chalicelib.wecom.events import (
    ContactEvent,
    CustomerAcquisitionEvent,
    ExternalChatEvent,
    ExternalContactEvent,
    ExternalTagEvent,
    UnknownEvent,
    WeComEvent,
    parse_event,
)

HEAD = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType>"
)


def event_xml(event: str, change_type: str, body: str = "", create_time: int = 1403610513) -> str:
    head = HEAD.replace("1403610513", str(create_time))
    return f"{head}<Event><![CDATA[{event}]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>{body}</xml>"


def contact_xml(
    change_type: str, extra: str = "", user: str = "zhangsan", external: str = "woAJ2GCAAAXtWyujaWJHDDGi0m"
):
    body = f"<UserID><![CDATA[{user}]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>{extra}"
    return event_xml("change_external_contact", change_type, body)


ADD_EXTERNAL_CONTACT = """<xml>
<ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>
<FromUserName><![CDATA[sys]]></FromUserName>
<CreateTime>1403610513</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[change_external_contact]]></Event>
<ChangeType><![CDATA[add_external_contact]]></ChangeType>
<UserID><![CDATA[zhangsan]]></UserID>
<ExternalUserID><![CDATA[woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA]]></ExternalUserID>
<State><![CDATA[teststate]]></State>
<WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode>
</xml>"""

CHAT_UPDATE = """<xml>
  <ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>
  <FromUserName><![CDATA[sys]]></FromUserName>
  <CreateTime>1403610513</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[change_external_chat]]></Event>
  <ChatId><![CDATA[wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA]]></ChatId>
  <ChangeType><![CDATA[update]]></ChangeType>
  <UpdateDetail><![CDATA[add_member]]></UpdateDetail>
  <JoinScene>1</JoinScene>
  <QuitScene>0</QuitScene>
  <MemChangeCnt>10</MemChangeCnt>
  <MemChangeList>
    <Item><![CDATA[Jack]]></Item>
    <Item><![CDATA[Rose]]></Item>
  </MemChangeList>
  <LastMemVer><![CDATA[9c3f97c2ada667dfb5f6d03308d963e1]]></LastMemVer>
  <CurMemVer><![CDATA[71217227bbd112ecfe3a49c482195cb4]]></CurMemVer>
</xml>"""


def test_add_external_contact_official_sample() -> None:
    event = parse_event(ADD_EXTERNAL_CONTACT)
    assert event == ExternalContactEvent(
        corp_id="ww1436e0e65a779aee",
        create_time=1403610513,
        event="change_external_contact",
        change_type="add_external_contact",
        user_id="zhangsan",
        external_user_id="woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA",
        state="teststate",
        welcome_code="WELCOMECODE",
    )
    assert event.kind == "change_external_contact/add_external_contact"
    assert event.is_realtime
    assert "WELCOMECODE" not in repr(event)


def test_half_added_friend_is_realtime_too() -> None:
    event = parse_event(contact_xml("add_half_external_contact", "<State><![CDATA[s]]></State>"))
    assert isinstance(event, ExternalContactEvent)
    assert event.is_realtime
    assert event.welcome_code == ""


@pytest.mark.parametrize(
    ("change_type", "extra", "expected"),
    [
        ("edit_external_contact", "", {}),
        ("del_external_contact", "<Source><![CDATA[DELETE_BY_TRANSFER]]></Source>", {"source": "DELETE_BY_TRANSFER"}),
        ("del_follow_user", "", {}),
        ("transfer_fail", "<FailReason><![CDATA[customer_refused]]></FailReason>", {"fail_reason": "customer_refused"}),
    ],
)
def test_other_external_contact_changes_go_to_the_ordinary_queue(
    change_type: str, extra: str, expected: dict[str, str]
) -> None:
    event = parse_event(contact_xml(change_type, extra))
    assert isinstance(event, ExternalContactEvent)
    assert event.change_type == change_type
    assert not event.is_realtime
    for name, value in expected.items():
        assert getattr(event, name) == value


def test_msg_audit_approved_with_a_welcome_code_is_realtime() -> None:
    event = parse_event(contact_xml("msg_audit_approved", "<WelcomeCode><![CDATA[W]]></WelcomeCode>"))
    assert isinstance(event, ExternalContactEvent)
    assert event.welcome_code == "W"
    assert event.is_realtime


def test_chat_update_official_sample() -> None:
    event = parse_event(CHAT_UPDATE)
    assert event == ExternalChatEvent(
        corp_id="ww1436e0e65a779aee",
        create_time=1403610513,
        event="change_external_chat",
        change_type="update",
        chat_id="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
        update_detail="add_member",
        join_scene=1,
        quit_scene=0,
        mem_change_cnt=10,
        mem_change_list=("Jack", "Rose"),
        last_mem_ver="9c3f97c2ada667dfb5f6d03308d963e1",
        cur_mem_ver="71217227bbd112ecfe3a49c482195cb4",
    )
    assert not event.is_realtime


def test_chat_member_list_written_as_comma_separated_text() -> None:
    body = (
        "<ChatId>c1</ChatId><UpdateDetail>del_member</UpdateDetail><MemChangeList><![CDATA[wm1,wm2]]></MemChangeList>"
    )
    event = parse_event(event_xml("change_external_chat", "update", body))
    assert isinstance(event, ExternalChatEvent)
    assert event.mem_change_list == ("wm1", "wm2")
    assert event.join_scene is None


@pytest.mark.parametrize("change_type", ["create", "dismiss"])
def test_chat_create_and_dismiss(change_type: str) -> None:
    event = parse_event(event_xml("change_external_chat", change_type, "<ChatId><![CDATA[CHAT_ID]]></ChatId>"))
    assert isinstance(event, ExternalChatEvent)
    assert (event.chat_id, event.change_type, event.mem_change_list) == ("CHAT_ID", change_type, ())


def test_tag_events() -> None:
    body = "<Id><![CDATA[TAG_ID]]></Id><TagType><![CDATA[tag_group]]></TagType><StrategyId>7</StrategyId>"
    event = parse_event(event_xml("change_external_tag", "update", body))
    assert event == ExternalTagEvent(
        corp_id="ww1436e0e65a779aee",
        create_time=1403610513,
        event="change_external_tag",
        change_type="update",
        tag_id="TAG_ID",
        tag_type="tag_group",
        strategy_id=7,
    )
    shuffle = parse_event(
        event_xml("change_external_tag", "shuffle", "<Id><![CDATA[]]></Id><StrategyId>1</StrategyId>")
    )
    assert isinstance(shuffle, ExternalTagEvent)
    assert (shuffle.tag_id, shuffle.tag_type, shuffle.strategy_id) == ("", "", 1)


def test_contact_update_user_keeps_the_profile_fields() -> None:
    body = (
        "<UserID><![CDATA[zhangsan]]></UserID><NewUserID><![CDATA[zhangsan001]]></NewUserID>"
        "<Name><![CDATA[张三]]></Name><Department><![CDATA[1,2,3]]></Department><MainDepartment>1</MainDepartment>"
        "<Position><![CDATA[产品经理]]></Position><Status>1</Status><Alias><![CDATA[zs]]></Alias>"
        "<ExtAttr><Item><Name><![CDATA[爱好]]></Name><Type>0</Type><Text><Value><![CDATA[旅游]]></Value></Text></Item></ExtAttr>"
    )
    event = parse_event(event_xml("change_contact", "update_user", body))
    assert isinstance(event, ContactEvent)
    assert (event.user_id, event.new_user_id, event.name) == ("zhangsan", "zhangsan001", "张三")
    assert (event.departments, event.main_department, event.status) == ((1, 2, 3), 1, 1)
    assert event.profile["Position"] == "产品经理"
    assert event.profile["Alias"] == "zs"
    assert "旅游" in event.profile["ExtAttr"]


def test_contact_delete_user_and_parties() -> None:
    deleted = parse_event(event_xml("change_contact", "delete_user", "<UserID><![CDATA[lisi]]></UserID>"))
    assert isinstance(deleted, ContactEvent)
    assert deleted.user_id == "lisi"
    party = parse_event(
        event_xml("change_contact", "create_party", "<Id>2</Id><Name><![CDATA[销售部]]></Name><ParentId>1</ParentId>")
    )
    assert isinstance(party, ContactEvent)
    assert (party.party_id, party.name, party.parent_id) == ("2", "销售部", "1")


@pytest.mark.parametrize(
    "xml",
    [
        event_xml("change_contact", "update_tag", "<TagId>1</TagId><AddUserItems><![CDATA[a,b]]></AddUserItems>"),
        event_xml("change_external_contact", "something_new", "<UserID>u</UserID><Extra>x</Extra>"),
        event_xml("some_future_event", "x", "<Payload>p</Payload>"),
        HEAD + "<Content><![CDATA[hello]]></Content><MsgId>123</MsgId><AgentID>1</AgentID></xml>",
        event_xml("change_external_chat", "update", "<ChatId>c</ChatId><JoinScene>not-a-number</JoinScene>"),
    ],
    ids=["unlisted-change-type", "new-change-type", "new-event", "text-message", "unparseable-known"],
)
def test_anything_else_is_kept_as_unknown_with_every_field(xml: str) -> None:
    event = parse_event(xml)
    assert isinstance(event, UnknownEvent)
    assert event.fields["ToUserName"] == "ww1436e0e65a779aee"
    assert len(event.fields) == xml.count("</") - 1
    assert not event.is_realtime


def test_unknown_events_with_different_payloads_have_different_keys() -> None:
    one = parse_event(event_xml("future", "x", "<A>1</A>"))
    two = parse_event(event_xml("future", "x", "<A>2</A>"))
    assert one.dedupe_key != two.dedupe_key
    assert parse_event(event_xml("future", "x", "<A>1</A>")).dedupe_key == one.dedupe_key


@pytest.mark.parametrize(
    "xml",
    [
        '<!DOCTYPE xml [<!ENTITY a "b">]><xml><ToUserName>&a;</ToUserName></xml>',
        "<xml><ToUserName>x</ToUserName>",
        "<xml><ToUserName>x</ToUserName><CreateTime>soon</CreateTime></xml>",
        "<xml><ToUserName>x</ToUserName></xml>",
        "<xml><CreateTime>1</CreateTime></xml>",
    ],
    ids=["entity", "unclosed", "bad-time", "no-time", "no-corp"],
)
def test_malformed_inner_xml_is_refused(xml: str) -> None:
    with pytest.raises(MalformedXml):
        parse_event(xml)


def test_dedupe_key_tells_apart_same_second_events_an_sdk_would_merge() -> None:
    """FromUserName is always `sys`, so FromUserName+CreateTime would merge all of these."""
    events = [
        parse_event(contact_xml("add_external_contact", user="a", external="x")),
        parse_event(contact_xml("add_external_contact", user="b", external="x")),
        parse_event(contact_xml("add_external_contact", user="a", external="y")),
        parse_event(contact_xml("del_follow_user", user="a", external="x")),
        parse_event(event_xml("change_external_chat", "update", "<ChatId>c</ChatId><CurMemVer>v1</CurMemVer>")),
        parse_event(event_xml("change_external_chat", "update", "<ChatId>c</ChatId><CurMemVer>v2</CurMemVer>")),
        parse_event(event_xml("change_external_chat", "update", "<ChatId>d</ChatId><CurMemVer>v2</CurMemVer>")),
        parse_event(event_xml("change_external_tag", "delete", "<Id>t</Id><TagType>tag</TagType>")),
        parse_event(event_xml("change_external_tag", "delete", "<Id>t</Id><TagType>tag_group</TagType>")),
        parse_event(event_xml("change_contact", "update_user", "<UserID>a</UserID>")),
    ]
    keys = {event.dedupe_key for event in events}
    assert len(keys) == len(events)
    assert all(key.startswith("ww1436e0e65a779aee|") and key.endswith("|1403610513") for key in keys)


def test_dedupe_key_is_the_same_for_a_retry_and_differs_by_second_and_corp() -> None:
    first = parse_event(ADD_EXTERNAL_CONTACT)
    assert parse_event(ADD_EXTERNAL_CONTACT).dedupe_key == first.dedupe_key
    later = parse_event(ADD_EXTERNAL_CONTACT.replace("1403610513", "1403610514"))
    other_corp = parse_event(ADD_EXTERNAL_CONTACT.replace("ww1436e0e65a779aee", "ww0000000000000000"))
    assert len({first.dedupe_key, later.dedupe_key, other_corp.dedupe_key}) == 3


@pytest.mark.parametrize(
    "xml",
    [
        ADD_EXTERNAL_CONTACT,
        CHAT_UPDATE,
        event_xml("change_external_tag", "create", "<Id>t</Id><TagType>tag</TagType><StrategyId>3</StrategyId>"),
        event_xml("change_contact", "update_user", "<UserID>u</UserID><Department>1,2</Department><Mobile>1</Mobile>"),
        event_xml("future", "x", "<A>1</A><B><Item>i</Item></B>"),
    ],
)
def test_message_round_trip_through_json(xml: str) -> None:
    event = parse_event(xml)
    message = json.loads(json.dumps(event.to_message()))
    assert message["type"] == "wecom_event"
    assert message["v"] == 1
    restored = WeComEvent.from_message(message)
    assert restored == event
    assert type(restored) is type(event)
    assert restored.dedupe_key == event.dedupe_key


@pytest.mark.parametrize(
    "message",
    [
        {},
        {"type": "wecom_event", "v": 2, "class": "external_contact", "event": {}},
        {"type": "plan", "v": 1},
        {"type": "wecom_event", "v": 1, "class": "nope", "event": {}},
        {"type": "wecom_event", "v": 1, "class": "external_tag", "event": {"corp_id": "c"}},
        {"type": "wecom_event", "v": 1, "class": "external_tag"},
    ],
)
def test_from_message_refuses_other_messages(message: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        WeComEvent.from_message(message)


@given(
    user=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20),
    external=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=40
    ),
    state=st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30).filter(
        lambda s: "]]>" not in s and s == s.strip()
    ),
    create_time=st.integers(min_value=0, max_value=2**31),
)
def test_any_contact_event_survives_xml_and_json(user: str, external: str, state: str, create_time: int) -> None:
    xml = event_xml(
        "change_external_contact",
        "add_external_contact",
        f"<UserID>{user}</UserID><ExternalUserID>{external}</ExternalUserID><State><![CDATA[{state}]]></State>",
        create_time=create_time,
    )
    event = parse_event(xml)
    assert isinstance(event, ExternalContactEvent)
    assert (event.user_id, event.external_user_id, event.state, event.create_time) == (
        user,
        external,
        state,
        create_time,
    )
    assert WeComEvent.from_message(json.loads(json.dumps(event.to_message()))) == event


def test_customer_acquisition_events_are_typed():
    xml = (
        "<xml><ToUserName><![CDATA[wwcorp]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        "<CreateTime>1403610513</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[customer_acquisition]]></Event><ChangeType><![CDATA[link_unavailable]]></ChangeType>"
        "<LinkId><![CDATA[cawcdea7783d7330c6]]></LinkId></xml>"
    )
    event = parse_event(xml)
    assert isinstance(event, CustomerAcquisitionEvent)
    assert (event.kind, event.link_id) == ("customer_acquisition/link_unavailable", "cawcdea7783d7330c6")
    assert WeComEvent.from_message(event.to_message()) == event
    low = parse_event(
        xml.replace("link_unavailable", "balance_low").replace("<LinkId><![CDATA[cawcdea7783d7330c6]]></LinkId>", "")
    )
    assert isinstance(low, CustomerAcquisitionEvent)
    assert low.link_id == ""
    assert not low.is_realtime
