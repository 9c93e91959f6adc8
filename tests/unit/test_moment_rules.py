"""Moment rules: what a moment may carry, when following ends, when to remind, which reactions are customer events."""

from __future__ import annotations

import pytest

from chalicelib.domain import moments as rules
from chalicelib.domain.moments import InvalidMoment, MomentTask, check_content

IMAGE = {"msgtype": "image", "image": {"media_id": "m"}}
VIDEO = {"msgtype": "video", "video": {"media_id": "v"}}
LINK = {"msgtype": "link", "link": {"title": "t", "url": "https://x.example"}}


@pytest.mark.parametrize("attachments", [[IMAGE] * 9, [VIDEO], [LINK], []])
def test_nine_images_or_one_video_or_one_link(attachments):
    check_content("hello", attachments)


@pytest.mark.parametrize(
    ("text", "attachments", "fragment"),
    [
        ("x", [IMAGE] * 10, "up to 9 images"),
        ("x", [IMAGE, LINK], "up to 9 images"),
        ("x", [VIDEO, VIDEO], "one video"),
        ("x", [{"msgtype": "file", "file": {}}], "images, a video or a link"),
        ("x" * 2001, [], "2000"),
        ("", [], "text or attachments"),
    ],
)
def test_what_wecom_would_refuse(text, attachments, fragment):
    with pytest.raises(InvalidMoment, match=fragment):
        check_content(text, attachments)


def test_following_ends_when_everyone_published_or_the_window_closes():
    task = MomentTask("mt1", rules.FOLLOWING, submitted_at=1000, employees=3, published=2)
    assert not rules.follow_over(task, 2000)
    assert rules.follow_over(MomentTask("mt1", rules.FOLLOWING, submitted_at=1000, employees=3, published=3), 2000)
    assert rules.follow_over(task, 1000 + rules.FOLLOW_WINDOW_SECONDS)


def test_one_reminder_after_the_delay():
    task = MomentTask("mt1", rules.FOLLOWING, text="新品", submitted_at=0)
    assert not rules.due_for_reminder(task, rules.REMIND_AFTER_SECONDS - 1)
    assert rules.due_for_reminder(task, rules.REMIND_AFTER_SECONDS)
    assert not rules.due_for_reminder(MomentTask("mt1", rules.FOLLOWING, reminded=2), rules.REMIND_AFTER_SECONDS)
    assert "新品" in rules.reminder_text(task)


def test_only_customers_reactions_are_customer_events():
    comments = [{"external_userid": "wm1", "create_time": 5}, {"userid": "emp1", "create_time": 6}]
    likes = [{"external_userid": "wm2", "create_time": 7}]
    assert rules.reaction_events(comments, likes) == [(rules.COMMENT, "wm1", 5), (rules.LIKE, "wm2", 7)]


def test_the_shared_buckets_keep_within_wecoms_limits():
    minute = rules.CREATES_PER_MINUTE_BUCKET
    assert minute.capacity + minute.refill_per_second * 60 <= 10
    month = rules.TASKS_PER_MONTH_BUCKET
    assert month.capacity + month.refill_per_second * rules.MONTH_SECONDS <= 100_000
