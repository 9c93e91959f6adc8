"""Mass messages (客户群发): tasks per sender, confirmation by the sender, per-receiver results and quota.

add_msg_template does not send: each sender must confirm in the client. The simulator confirms after
``confirm_delay`` simulated seconds, or never for a seeded share of employees. Confirmations are applied lazily, in
time order, whenever the mass-message state is read, so the quota is spent in the order WeCom would spend it.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from . import errors, ids
from .config import SimConfig
from .errors import WeComError
from .quota import ReceiveQuota
from .rand import unit

REMINDS_PER_DAY = 3
DAY = 86_400.0


@dataclass(slots=True)
class SendRecord:
    """One receiver of one sender's task: status 0 not sent, 1 sent, 2 not a friend, 3 over quota."""

    receiver: str
    userid: str
    status: int = 0
    send_time: int = 0


@dataclass(slots=True)
class SenderTask:
    """One sender's part of a mass message: status 0 not sent, 2 sent."""

    userid: str
    confirm_at: float | None
    status: int = 0
    send_time: int = 0


@dataclass
class MassMessage:
    """A mass message as WeCom keeps it."""

    msgid: str
    chat_type: str
    creator: str
    create_time: float
    text: dict | None
    attachments: list
    tasks: dict[str, SenderTask] = field(default_factory=dict)
    results: dict[str, list[SendRecord]] = field(default_factory=dict)
    cancelled: bool = False
    reminders: list[float] = field(default_factory=list)
    create_type: int = 0


class MassMessages:
    """Every mass message of one corp, the per-receiver quota and the queue of pending confirmations."""

    def __init__(self, config: SimConfig, corpid: str, rng: random.Random) -> None:
        self._config = config
        self._corpid = corpid
        self._rng = rng
        self.messages: dict[str, MassMessage] = {}
        self.quota = ReceiveQuota(config.quota_rule)
        self._due: list[tuple[float, int, str, str]] = []
        self._seq = 0

    def confirms(self, userid: str) -> bool:
        """Whether this employee ever confirms mass tasks (a seeded share never does)."""
        return unit(self._config.seed, self._corpid, "never-confirm", userid) >= self._config.never_confirm_share

    def create(
        self,
        chat_type: str,
        by_sender: dict[str, list[str]],
        text: dict | None,
        attachments: list,
        now: float,
        creator: str = "",
    ) -> MassMessage:
        """Record a mass message with one task per sender and schedule the senders' confirmations."""
        message = MassMessage(ids.msgid(self._rng), chat_type, creator, now, text, attachments)
        for userid, receivers in by_sender.items():
            confirm_at = now + self._config.confirm_delay if self.confirms(userid) else None
            message.tasks[userid] = SenderTask(userid, confirm_at)
            message.results[userid] = [SendRecord(receiver, userid) for receiver in receivers]
            if confirm_at is not None:
                self._seq += 1
                heapq.heappush(self._due, (confirm_at, self._seq, message.msgid, userid))
        self.messages[message.msgid] = message
        return message

    def settle(self, now: float, reachable: Callable[[str, str], bool], on_receive: Callable[[str], None]) -> None:
        """Apply every confirmation due by ``now``, oldest first: receivers get status 1, 2 or 3."""
        while self._due and self._due[0][0] <= now:
            moment, _, msgid, userid = heapq.heappop(self._due)
            message = self.messages[msgid]
            if message.cancelled:
                continue
            task = message.tasks[userid]
            task.status, task.send_time = 2, int(moment)
            for record in message.results[userid]:
                record.send_time = int(moment)
                if not reachable(userid, record.receiver):
                    record.status = 2
                elif self.quota.try_receive(record.receiver, moment):
                    record.status = 1
                    on_receive(record.receiver)
                else:
                    record.status = 3

    def get(self, msgid: str) -> MassMessage:
        if not msgid:
            raise WeComError(errors.MSGID_MISSING)
        message = self.messages.get(msgid)
        if message is None:
            raise WeComError(errors.MSGID_INVALID)
        return message

    def readable(self, msgid: str, now: float) -> MassMessage:
        """A message whose records may be read; 41063 while it is still being dispatched."""
        message = self.get(msgid)
        if now - message.create_time < self._config.dispatch_seconds:
            raise WeComError(errors.MASS_DISPATCHING)
        return message

    def remind(self, msgid: str, now: float) -> None:
        """At most three reminders per task in any 24 hours (41094), none after cancellation (41093)."""
        message = self.get(msgid)
        if message.cancelled:
            raise WeComError(errors.MASS_CANCELLED)
        recent = [moment for moment in message.reminders if now - moment < DAY]
        if len(recent) >= REMINDS_PER_DAY:
            raise WeComError(errors.REMIND_TOO_FREQUENT)
        message.reminders = [*recent, now]

    def cancel(self, msgid: str) -> None:
        """Stop a task: senders who have not confirmed never will; a second cancel answers 41093."""
        message = self.get(msgid)
        if message.cancelled:
            raise WeComError(errors.MASS_CANCELLED)
        message.cancelled = True
