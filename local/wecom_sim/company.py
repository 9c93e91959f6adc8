"""A simulated company (tenant): its credentials and all of its WeCom-side state."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import rand
from .acquisition import AcquisitionLinks
from .appmsg import AppMessageCaps
from .customers import CustomerBook
from .massmsg import MassMessages
from .media import MediaStore
from .member_logins import MemberLogins
from .models import Department, Employee, Follow, GroupChat, JoinWay
from .moments import Moments
from .stats import CorpStats
from .tags import TagBook
from .transfers import TransferRecord, Transfers
from .welcome import WelcomeCodes


@dataclass(eq=False)
class Company:
    """Credentials (corpid, secret, agent_id, callback token and EncodingAESKey) and the company's data."""

    corpid: str
    name: str
    agent_id: int
    secret: str = field(repr=False)
    token: str = field(repr=False)
    aes_key: str = field(repr=False)
    callback_url: str | None
    rng: random.Random = field(repr=False)
    tags: TagBook = field(repr=False)
    welcome: WelcomeCodes = field(repr=False)
    mass: MassMessages = field(repr=False)
    transfers: Transfers = field(repr=False)
    app_messages: AppMessageCaps = field(repr=False)
    acquisition: AcquisitionLinks = field(repr=False)
    moments: Moments = field(repr=False)
    departments: dict[int, Department] = field(default_factory=dict, repr=False)
    employees: dict[str, Employee] = field(default_factory=dict, repr=False)
    book: CustomerBook = field(default_factory=CustomerBook, repr=False)
    chats: dict[str, GroupChat] = field(default_factory=dict, repr=False)
    contact_ways: dict[str, dict] = field(default_factory=dict, repr=False)
    join_ways: dict[str, JoinWay] = field(default_factory=dict, repr=False)
    group_welcome_templates: dict[str, dict] = field(default_factory=dict, repr=False)
    unassigned: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    media: MediaStore = field(default_factory=MediaStore, repr=False)
    member_logins: MemberLogins = field(default_factory=MemberLogins, repr=False)
    join_way_room_full: int = 200

    def active_userids(self) -> set[str]:
        return {userid for userid, employee in self.employees.items() if employee.active}

    def active_employee(self, userid: str) -> Employee | None:
        employee = self.employees.get(userid)
        return employee if employee is not None and employee.active else None

    def drift(self, share: float, seed: int) -> int:
        """Change `share` of the customers without any callback, as edits made while the app was not listening: each
        chosen customer's first relation gets a new remark and one more corp tag (or one fewer when it has them
        all). The customers are drawn with `seed`; returns how many changed. A nightly sync must find them."""
        tag_ids = sorted(self.tags.tags)
        changed = 0
        for external_userid in self.book.customers:
            follows = self.book.follows_of_customer(external_userid)
            if not follows or rand.unit(seed, "drift", external_userid) >= share:
                continue
            follow = follows[0]
            follow.remark = f"drift {seed}"
            missing = [t for t in tag_ids if t not in follow.tag_ids]
            if missing:
                follow.tag_ids.append(missing[int(rand.unit(seed, "tag", external_userid) * len(missing))])
            elif follow.tag_ids:
                follow.tag_ids.pop()
            changed += 1
        return changed

    def settle(self, now: float, stats: CorpStats) -> None:
        """Bring time-driven state up to ``now``: mass-message confirmations and transfer takeovers."""
        self.mass.settle(now, self._reachable, lambda receiver: stats.mass_received.update((receiver,)))
        self.transfers.settle(now, self._take_over)

    def _reachable(self, userid: str, receiver: str) -> bool:
        if receiver in self.chats:
            return self.chats[receiver].owner == userid and self.chats[receiver].status == 0
        return self.book.is_friend(userid, receiver)

    def _take_over(self, record: TransferRecord) -> bool:
        old = self.book.remove_follow(record.handover, record.external_userid)
        if old is None or self.active_employee(record.takeover) is None:
            if old is not None:
                self.book.add_follow(old)
            return False
        self.book.add_follow(
            Follow(
                userid=record.takeover,
                external_userid=record.external_userid,
                createtime=int(record.takeover_at),
                add_way=old.add_way,
                state=old.state,
                remark=old.remark,
                description=old.description,
                remark_corp_name=old.remark_corp_name,
                remark_mobiles=list(old.remark_mobiles),
                tag_ids=list(old.tag_ids),
                oper_userid=record.takeover,
            )
        )
        self.unassigned.pop((record.handover, record.external_userid), None)
        return True
