"""Group chats on plain data: member changes and daily figures, the member-version order of events, group mass-message
audiences with each group's receiving quota."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.audience import Receipt
from chalicelib.domain.frequency import FrequencyPolicy, WeComQuota
from chalicelib.domain.group_audience import (
    GroupAudience,
    InvalidGroupAudience,
    group_audience,
    plan_groups,
)
from chalicelib.domain.group_chats import (
    ChatMember,
    DailyFigures,
    EventAction,
    GroupChat,
    GroupSyncCursor,
    Scope,
    chat_from_wecom,
    event_action,
    local_day,
    member_changes,
    same_view,
)
from chalicelib.domain.wecom_limits import MSG_TEMPLATE_MAX_CHAT_IDS

DAY1 = int(datetime(2026, 3, 1, 2, tzinfo=UTC).timestamp())  # 10:00 in Shanghai


def test_chat_from_wecom_reads_members_with_join_state_and_inviter():
    chat, members = chat_from_wecom(
        {
            "chat_id": "wr1",
            "name": "群",
            "owner": "u1",
            "member_version": "v1",
            "member_list": [
                {"userid": "u1", "type": 1, "join_time": 5, "join_scene": 1},
                {
                    "userid": "wm1",
                    "type": 2,
                    "join_time": 6,
                    "join_scene": 3,
                    "state": "s1",
                    "invitor": {"userid": "u1"},
                },
            ],
        },
        100,
        inherit_status=1,
    )
    assert (chat.member_count, chat.states, chat.inherit_status, chat.event_time) == (2, frozenset({"s1"}), 1, 100)
    assert members[1] == ChatMember("wm1", 2, 6, 3, "u1", "s1")
    assert same_view(chat, chat)
    assert not same_view(None, chat)


def test_member_changes_and_daily_figures_count_customers_by_day_and_scope():
    old = [ChatMember("u1", 1, DAY1), ChatMember("wm1", 2, DAY1), ChatMember("wm2", 2, DAY1, state="s")]
    new = [
        ChatMember("u1", 1, DAY1),
        ChatMember("wm1", 2, DAY1, name="阿明"),
        ChatMember("wm3", 2, DAY1 + 86_400, state="s"),
    ]
    changes = member_changes(old, new)
    assert [m.userid for m in changes.joined] == ["wm3"]
    assert [m.userid for m in changes.quit] == ["wm2"]
    assert [m.userid for m in changes.changed] == ["wm1"]
    figures = DailyFigures()
    figures.count(GroupChat("wr1", 0, owner="u1"), changes, DAY1 + 2 * 86_400)
    cells = {(s, k, d): (j, q) for s, k, d, j, q in figures.cells()}
    day2, day3 = local_day(DAY1 + 86_400), local_day(DAY1 + 2 * 86_400)
    assert cells == {
        (Scope.CHAT, "wr1", day2): (1, 0),
        (Scope.CHAT, "wr1", day3): (0, 1),
        (Scope.OWNER, "u1", day2): (1, 0),
        (Scope.OWNER, "u1", day3): (0, 1),
        (Scope.STATE, "s", day2): (1, 0),
        (Scope.STATE, "s", day3): (0, 1),
    }
    figures.clear()
    assert figures.cells() == []


def test_local_day_is_the_shanghai_day():
    assert local_day(int(datetime(2026, 3, 1, 17, tzinfo=UTC).timestamp())) == "2026-03-02"


@pytest.mark.parametrize(
    ("change", "detail", "last", "cur", "stored", "action"),
    [
        ("dismiss", "", "", "", None, EventAction.DISMISS),
        ("create", "", "", "", None, EventAction.REREAD),
        ("update", "add_member", "v1", "v2", None, EventAction.REREAD),
        ("update", "add_member", "v1", "v2", "v2", EventAction.SKIP),
        ("update", "add_member", "v1", "v2", "v1", EventAction.REREAD),
        ("update", "del_member", "v1", "v2", "v1", EventAction.DROP_MEMBERS),
        ("update", "del_member", "v1", "v2", "v0", EventAction.REREAD),
        ("update", "del_member", "v1", "v2", "v2", EventAction.SKIP),
        ("update", "change_name", "", "", "v2", EventAction.REREAD),
    ],
)
def test_event_action_follows_member_versions(change, detail, last, cur, stored, action):
    chat = GroupChat("wr1", 0, member_version=stored) if stored else None
    assert event_action(change, detail, last, cur, chat) is action


def test_group_sync_cursor_round_trips():
    cursor = GroupSyncCursor("u1", ("u2", "u3"), "c", 7)
    assert GroupSyncCursor.from_dict(cursor.as_dict()) == cursor
    assert GroupSyncCursor.from_dict(None) == GroupSyncCursor()


@pytest.mark.parametrize(
    ("data", "sender", "message"),
    [
        ({"tags": []}, "u1", "audience: a group broadcast takes"),
        ({"chat_ids": ["a b"]}, "u1", "audience.chat_ids: must be a list of chat ids"),
        ({"chat_ids": ["wr1"], "state": "s"}, "u1", "not both"),
        ({"owners": ["u2"]}, "u1", "sender: must be one of audience.owners"),
        ({"owners": [f"u{n}" for n in range(101)]}, "", "audience.owners: at most 100"),
        ({"state": "a b"}, "u1", "audience.state"),
        ({"joined_from": 9, "joined_to": 1}, "u1", "audience.joined_from: after joined_to"),
        ({"joined_from": "x"}, "u1", "audience.joined_from: must be epoch seconds"),
    ],
)
def test_group_audience_refuses_precisely(data, sender, message):
    with pytest.raises(InvalidGroupAudience, match=message):
        group_audience(data, sender)


def test_group_audience_round_trips_through_json():
    audience = group_audience({"owners": ["u1", "u1"], "state": "s", "joined_from": 1, "joined_to": 2}, "u1")
    assert audience == GroupAudience((), ("u1",), "s", 1, 2)
    assert group_audience(audience.as_json(), "u1") == audience
    assert audience.owners_or("u9") == ("u1",)
    assert GroupAudience().owners_or("u9") == ("u9",)


def test_plan_groups_applies_each_groups_quota_and_batches_per_owner():
    send_at = datetime.fromtimestamp(DAY1, UTC)
    earlier = Receipt("other", datetime.fromtimestamp(DAY1 - 3600, UTC))
    chats = [("wr1", "u2"), ("wr2", "u1"), ("wr3", "u1"), ("wr1", "u2")]
    daily = FrequencyPolicy(WeComQuota.DAILY)
    plan = plan_groups(chats, {"wr3": [earlier]}, daily, send_at, "bc1")
    assert plan.batches == (("u1", ("wr2",)), ("u2", ("wr1",)))
    assert plan.skipped == {"receiving_quota_reached": 1}
    assert (plan.recipients, plan.senders) == (2, 2)
    monthly = plan_groups(chats, {"wr3": [earlier]}, FrequencyPolicy(), send_at, "bc1")
    assert monthly.recipients == 3
    own = plan_groups(chats, {"wr3": [Receipt("bc1", send_at)]}, daily, send_at, "bc1")
    assert own.recipients == 3
    many = [(f"wr{n}", "u1") for n in range(MSG_TEMPLATE_MAX_CHAT_IDS + 1)]
    assert [len(c) for _, c in plan_groups(many, {}, daily, send_at, "bc").batches] == [MSG_TEMPLATE_MAX_CHAT_IDS, 1]
