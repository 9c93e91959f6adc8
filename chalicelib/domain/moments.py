"""Customer moments (客户朋友圈) as plain values: what a moment may carry, a task's life and when it ends, the corp's
shared creation limits, and the reminder to employees who have not published.

Life of a task: `scheduled` (waits for its time, or for the minute's creates) → `submitted` (WeCom's job runs, we
hold its jobid) → `following` (WeCom gave the moment_id; each pass reads who published, whom it reached, the likes
and comments) → `done` when every employee published or the follow window closed; `cancelled` by an admin;
`failed` when WeCom refused it (the monthly cap included).

Limits: WeCom allows a corp 10 creates a minute and 100,000 tasks a month. Both are token buckets shared by every
Lambda (`store.rate_limits`); the month's bucket holds at most 5% of the month as a burst and refills the rest
evenly, so a refusal from it means the month's budget is spent and says when the next task fits.

Reminders: one app message per employee per task, to those who have not published `REMIND_AFTER_SECONDS` after the
moment went out. With at most 10 tasks a minute per corp that is at most 10 messages a minute to any employee,
within WeCom's 30 a minute and 1,000 an hour per member per app.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.token_bucket import TokenBucket
from chalicelib.domain.wecom_limits import (
    MOMENT_CREATES_PER_MINUTE,
    MOMENT_IMAGES_MAX,
    MOMENT_TEXT_MAX_CHARS,
    MOMENTS_PER_MONTH,
)

MONTH_SECONDS = 30 * 86_400
FOLLOW_WINDOW_SECONDS = 3 * 86_400
FOLLOW_INTERVAL_SECONDS = 300
EMPLOYEES_PER_PASS = 50
"""Employees whose customers and reactions one follow pass reads (a pass stays within one invocation's time)."""
REMIND_AFTER_SECONDS = 2 * 3600

SCHEDULED, SUBMITTED, FOLLOWING, DONE, CANCELLED, FAILED = (
    "scheduled",
    "submitted",
    "following",
    "done",
    "cancelled",
    "failed",
)
OPEN_STATUSES = frozenset({SCHEDULED, SUBMITTED, FOLLOWING})

CREATES_PER_MINUTE_BUCKET = TokenBucket.within(((MOMENT_CREATES_PER_MINUTE, 60.0),), margin=1.0)
TASKS_PER_MONTH_BUCKET = TokenBucket.within(((MOMENTS_PER_MONTH, float(MONTH_SECONDS)),), margin=1.0)

COMMENT, LIKE = "moment_comment", "moment_like"


class InvalidMoment(ValueError):
    """What WeCom would refuse in a moment's content."""


def check_content(text: str, attachments: Sequence[Mapping[str, Any]]) -> None:
    """Text ≤ 2,000 characters; up to nine images, or one video, or one link; something to post."""
    problems = []
    if len(text) > MOMENT_TEXT_MAX_CHARS:
        problems.append(f"text: at most {MOMENT_TEXT_MAX_CHARS} characters")
    kinds = [a.get("msgtype") for a in attachments]
    if any(k not in ("image", "video", "link") for k in kinds):
        problems.append("attachments: a moment takes images, a video or a link")
    elif kinds and not (
        (set(kinds) == {"image"} and len(kinds) <= MOMENT_IMAGES_MAX) or kinds in (["video"], ["link"])
    ):
        problems.append(f"attachments: up to {MOMENT_IMAGES_MAX} images, or one video, or one link")
    if not text and not attachments:
        problems.append("a moment needs text or attachments")
    if problems:
        raise InvalidMoment("; ".join(problems))


@dataclass(frozen=True)
class MomentTask:
    """A moment task as stored: what it posts, to whose customers, and how far it got."""

    task_id: str
    status: str
    text: str = ""
    attachments: tuple[Mapping[str, Any], ...] = ()
    userids: tuple[str, ...] = ()
    department_ids: tuple[int, ...] = ()
    tag_ids: tuple[str, ...] = ()
    scheduled_at: int = 0
    created_at: int = 0
    jobid: str = ""
    moment_id: str = ""
    submitted_at: int = 0
    invalid_userids: tuple[str, ...] = ()
    invalid_department_ids: tuple[int, ...] = ()
    invalid_tag_ids: tuple[str, ...] = ()
    error: str = ""
    employees: int = 0
    published: int = 0
    customers_reached: int = 0
    comments: int = 0
    likes: int = 0
    reminded: int = 0
    finished_at: int = 0
    follow_offset: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "moment_task_id": self.task_id,
            "status": self.status,
            "text": self.text,
            "attachments": [dict(a) for a in self.attachments],
            "userids": list(self.userids),
            "department_ids": list(self.department_ids),
            "tag_ids": list(self.tag_ids),
            "scheduled_at": self.scheduled_at,
            "created_at": self.created_at,
            "moment_id": self.moment_id or None,
            "invalid": {
                "userids": list(self.invalid_userids),
                "department_ids": list(self.invalid_department_ids),
                "tag_ids": list(self.invalid_tag_ids),
            },
            "error": self.error or None,
            "counts": {
                "employees": self.employees,
                "published": self.published,
                "customers_reached": self.customers_reached,
                "comments": self.comments,
                "likes": self.likes,
                "reminded": self.reminded,
            },
            "finished_at": self.finished_at or None,
        }


def follow_over(task: MomentTask, now: int) -> bool:
    """Nothing more to learn: every employee published, or the follow window since submission closed."""
    everyone = task.employees > 0 and task.published >= task.employees
    return everyone or now >= task.submitted_at + FOLLOW_WINDOW_SECONDS


def due_for_reminder(task: MomentTask, now: int) -> bool:
    """Remind the employees who have not published, once, `REMIND_AFTER_SECONDS` after the moment went out."""
    return task.status == FOLLOWING and not task.reminded and now >= task.submitted_at + REMIND_AFTER_SECONDS


def reminder_text(task: MomentTask) -> str:
    preview = task.text[:40] + ("…" if len(task.text) > 40 else "")
    return f"朋友圈任务提醒：企业为你创建了一条客户朋友圈「{preview or '图片/视频/链接'}」，请在企业微信中发表。"


def reaction_events(
    comments: Sequence[Mapping[str, Any]], likes: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str, int]]:
    """(kind, external_userid, at) of the customers' comments and likes (those of employees are not customer events)."""
    events = [
        (COMMENT, str(c["external_userid"]), int(c.get("create_time", 0))) for c in comments if "external_userid" in c
    ]
    events += [(LIKE, str(c["external_userid"]), int(c.get("create_time", 0))) for c in likes if "external_userid" in c]
    return events
