"""Content validation against add_msg_template's limits, with messages that name the field."""

from __future__ import annotations

import pytest

from chalicelib.domain.broadcast_content import InvalidContent, validate_content


def problems(payload: dict) -> list[str]:
    with pytest.raises(InvalidContent) as caught:
        validate_content(payload)
    return caught.value.problems


def test_valid_text_and_attachments_make_a_request_body():
    content = validate_content(
        {
            "text": {"content": "双十一会员专享"},
            "attachments": [
                {"msgtype": "image", "image": {"pic_url": "https://x/y.png"}},
                {"msgtype": "link", "link": {"title": "t", "url": "https://x", "desc": "d"}},
                {
                    "msgtype": "miniprogram",
                    "miniprogram": {"title": "m", "pic_media_id": "p", "appid": "wx1", "page": "a.html?x=1"},
                },
                {"msgtype": "video", "video": {"media_id": "v"}},
                {"msgtype": "file", "file": {"media_id": "f"}},
            ],
        }
    )
    body = content.request_body(["wm1", "wm2"], sender="amy")
    assert body["chat_type"] == "single"
    assert body["text"] == {"content": "双十一会员专享"}
    assert body["external_userid"] == ["wm1", "wm2"]
    assert body["sender"] == "amy"
    assert len(body["attachments"]) == 5


def test_text_limit_is_4000_utf8_bytes():
    validate_content({"text": {"content": "a" * 4000}})
    assert problems({"text": {"content": "会" * 1334}}) == ["text.content: 4002 bytes, at most 4000"]


def test_at_most_nine_attachments():
    image = {"msgtype": "image", "image": {"media_id": "m"}}
    validate_content({"attachments": [image] * 9})
    assert problems({"attachments": [image] * 10}) == ["attachments: 10 given, at most 9"]


@pytest.mark.parametrize(
    ("attachment", "expected"),
    [
        ({"msgtype": "image", "image": {}}, "attachments[0].image: give exactly one of media_id or pic_url"),
        ({"msgtype": "image", "image": {"media_id": "a", "pic_url": "b"}}, "attachments[0].image: give exactly one"),
        ({"msgtype": "link", "link": {"title": "t"}}, "attachments[0].link.url: required"),
        ({"msgtype": "link", "link": {"title": "t" * 129, "url": "u"}}, "attachments[0].link.title: longer than 128"),
        ({"msgtype": "miniprogram", "miniprogram": {"title": "t"}}, "attachments[0].miniprogram.appid: required"),
        ({"msgtype": "video", "video": {"media_id": ""}}, "attachments[0].video.media_id: must be a non-empty"),
        ({"msgtype": "file", "file": {"media_id": "f", "x": 1}}, "attachments[0].file.x: unknown field"),
        ({"msgtype": "voice", "voice": {}}, "attachments[0].msgtype: must be one of"),
        ({"msgtype": "link", "link": "nope"}, "attachments[0].link: must be an object"),
    ],
)
def test_attachment_problems_name_the_field(attachment, expected):
    assert any(p.startswith(expected) for p in problems({"text": {"content": "x"}, "attachments": [attachment]}))


def test_group_messages_need_a_sender_and_empty_messages_are_refused():
    assert problems({"chat_type": "group", "text": {"content": "x"}}) == ["sender: required when chat_type is group"]
    assert problems({"chat_type": "moments", "text": {"content": "x"}}) == ["chat_type: must be one of single, group"]
    assert problems({}) == ["text.content: required when there are no attachments"]


def test_every_problem_is_reported_at_once():
    found = problems({"text": {"content": "x" * 4001}, "attachments": [{"msgtype": "video", "video": {}}] * 10})
    assert len(found) == 12
