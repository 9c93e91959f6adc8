"""Customer moments (客户朋友圈) of one company: tasks, who published when, who saw, liked and commented.

A task's job finishes ``dispatch_seconds`` after creation; each visible employee then publishes after
``confirm_delay`` (spread over up to twice that), except a ``never_confirm_share`` who never do. A published moment
reaches the employee's customers (those with one of the task's tags, when it names tags); a share of them like it and
a smaller share comment, a minute after it was published.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from . import errors, ids
from .config import SimConfig
from .errors import WeComError

MONTH = 30 * 86_400


@dataclass(slots=True)
class Reaction:
    """A like or a comment: by a customer (``external_userid``) or an employee (``userid``)."""

    who: str
    by_customer: bool
    create_time: int


@dataclass(slots=True)
class MomentTask:
    jobid: str
    moment_id: str
    create_time: float
    done_at: float
    text: dict | None
    attachments: list
    publish_at: dict[str, float | None]
    reached: dict[str, list[str]]
    invalid_users: list[str]
    invalid_departments: list[int]
    invalid_tags: list[str]
    cancelled_at: float | None = None
    likes: dict[str, list[Reaction]] = field(default_factory=dict)
    comments: dict[str, list[Reaction]] = field(default_factory=dict)

    def published(self, userid: str, now: float) -> bool:
        at = self.publish_at.get(userid)
        return at is not None and at <= now and (self.cancelled_at is None or at <= self.cancelled_at)


class Moments:
    """The company's moment tasks, by job id and by moment id, and the creation limits (per minute, per month)."""

    def __init__(self, config: SimConfig, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self.by_job: dict[str, MomentTask] = {}
        self.by_moment: dict[str, MomentTask] = {}
        self._recent: deque[float] = deque()
        self._month: deque[float] = deque()

    def admit(self, now: float) -> None:
        """45009 beyond the creates a minute, 41210 beyond the tasks a month."""
        for window, span, limit, code in (
            (self._recent, 60, self._config.moment_creates_per_minute, errors.FREQUENCY_LIMIT),
            (self._month, MONTH, self._config.moments_per_month, errors.MOMENT_MONTH_LIMIT),
        ):
            while window and window[0] <= now - span:
                window.popleft()
            if len(window) >= limit:
                raise WeComError(code)
        self._recent.append(now)
        self._month.append(now)

    def create(
        self,
        now: float,
        text: dict | None,
        attachments: list,
        reached: dict[str, list[str]],
        invalid: tuple[list[str], list[int], list[str]],
    ) -> MomentTask:
        config, rng = self._config, self._rng
        done_at = now + config.dispatch_seconds
        publish_at: dict[str, float | None] = {}
        for userid in reached:
            never = rng.random() < config.never_confirm_share
            publish_at[userid] = None if never else done_at + config.confirm_delay * (1 + rng.random())
        task = MomentTask(
            "job" + ids.token(rng, 29),
            "mom" + ids.token(rng, 29),
            now,
            done_at,
            text,
            attachments,
            publish_at,
            reached,
            *invalid,
        )
        for userid, customers in reached.items():
            at = publish_at[userid]
            if at is None:
                continue
            when = int(at) + 60
            task.likes[userid] = [Reaction(c, True, when) for c in customers if rng.random() < config.moment_like_share]
            task.comments[userid] = [
                Reaction(c, True, when) for c in customers if rng.random() < config.moment_comment_share
            ]
        self.by_job[task.jobid] = task
        self.by_moment[task.moment_id] = task
        return task
