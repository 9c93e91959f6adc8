"""The callback emitter: plays WeCom's server for one company.

Each scripted event is applied to the simulator's state when it fires (a new friend really becomes a follow relation
the API returns), then encrypted with wechatpy's enterprise crypto, signed, and POSTed to the company's callback URL.
A delivery not answered with 200 within the timeout is re-sent up to ``callback_retries`` more times.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import httpx

from . import ids
from .acquisition import LinkCustomer
from .company import Company
from .events import Field, event_xml, sealed
from .generate import person_name
from .models import ChatMember, Customer, Follow, GroupChat

T = TypeVar("T")


class EmitterHost(Protocol):
    """What an emitter needs of its simulator: simulated time, changes applied to state atomically, and the
    callback counters. The simulator's lock, clock and configuration stay its own."""

    def real_seconds(self, simulated_seconds: float) -> float: ...

    def apply(self, change: Callable[[float], T]) -> tuple[float, T]: ...

    def count_callback(self, corpid: str, what: str) -> None: ...


@dataclass(frozen=True)
class Delivery:
    """How callbacks are delivered: WeCom's retries after a failed or slow answer, and its wait for each."""

    retries: int
    timeout_seconds: float


EXTERNAL_CONTACT = "change_external_contact"
EXTERNAL_CHAT = "change_external_chat"
EXTERNAL_TAG = "change_external_tag"
CONTACT = "change_contact"
CUSTOMER_ACQUISITION = "customer_acquisition"


@dataclass(slots=True)
class Emitted:
    """One event as sent: its plaintext fields and what became of its delivery."""

    event: str
    change_type: str
    fields: dict
    create_time: int
    attempts: int = 0
    delivered: bool = False


# An event still to fire: when (simulated seconds after the scenario starts) and how it changes the state.
Step = tuple[float, Callable[[float], tuple[str, str, list[Field]]]]


@dataclass
class Scenario:
    """A scripted run of events; ``wait()`` returns once every event fired and every delivery finished."""

    id: int
    planned: int
    emitted: list[Emitted] = field(default_factory=list)
    _done: threading.Event = field(default_factory=threading.Event)
    _deliveries: list[Future] = field(default_factory=list)

    def wait(self, timeout: float | None = None) -> Scenario:
        if not self._done.wait(timeout):
            raise TimeoutError(f"scenario {self.id} still running")
        for delivery in list(self._deliveries):
            delivery.result(timeout)
        return self

    @property
    def done(self) -> bool:
        return self._done.is_set() and all(d.done() for d in self._deliveries)


class Emitter:
    """Scripted WeCom-side events for one company."""

    _ids = itertools.count(1)

    def __init__(
        self, host: EmitterHost, company: Company, delivery: Delivery, pool: ThreadPoolExecutor, client: httpx.Client
    ) -> None:
        self._host = host
        self._company = company
        self._delivery = delivery
        self._pool = pool
        self._client = client
        self._rng = random.Random(company.rng.getrandbits(64))

    # ---- scenarios -------------------------------------------------------------------------------------------

    def new_friends(
        self, n: int, *, state: str = "", userid: str | None = None, over_seconds: float = 0.0, welcome: bool = True
    ) -> Scenario:
        """``n`` new customers add an employee (through the contact way whose State is ``state`` when one exists),
        spread evenly over ``over_seconds`` of simulated time; each event carries a fresh WelcomeCode."""
        step = over_seconds / n if n else 0.0
        return self._run([(i * step, self._new_friend(state, userid, welcome)) for i in range(n)])

    def customer_deleted_employee(self, external_userid: str, userid: str) -> Scenario:
        """The customer deletes the employee (del_follow_user); a one-way relation remains."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            follow = self._company.book.follow(userid, external_userid)
            if follow is not None:
                follow.deleted_by_customer = True
            return EXTERNAL_CONTACT, "del_follow_user", [("UserID", userid), ("ExternalUserID", external_userid)]

        return self._run([(0.0, apply)])

    def employee_deleted_customer(self, userid: str, external_userid: str) -> Scenario:
        """The employee deletes the customer in the client (del_external_contact)."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            self._company.book.remove_follow(userid, external_userid)
            fields: list[Field] = [("UserID", userid), ("ExternalUserID", external_userid), ("Source", "")]
            return EXTERNAL_CONTACT, "del_external_contact", fields

        return self._run([(0.0, apply)])

    def customer_edited(self, userid: str, external_userid: str, remark: str) -> Scenario:
        """The employee edits the customer's remark in the client (edit_external_contact)."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            follow = self._company.book.follow(userid, external_userid)
            if follow is not None:
                follow.remark = remark
            return EXTERNAL_CONTACT, "edit_external_contact", [("UserID", userid), ("ExternalUserID", external_userid)]

        return self._run([(0.0, apply)])

    def tag_created(self, group_name: str, names: list[str]) -> Scenario:
        """An admin adds tags in the admin console: one create event per tag."""
        created: list[str] = []

        def make(index: int) -> Callable[[float], tuple[str, str, list[Field]]]:
            def apply(now: float) -> tuple[str, str, list[Field]]:
                if not created:
                    group = self._company.tags.add("", group_name, 0, [(n, i) for i, n in enumerate(names)], int(now))
                    created.extend(group.tags)
                return EXTERNAL_TAG, "create", [("Id", created[index]), ("TagType", "tag")]

            return apply

        return self._run([(0.0, make(i)) for i in range(len(names))])

    def tag_deleted(self, tag_id: str) -> Scenario:
        """An admin deletes a tag in the admin console; it disappears from every customer."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            self._company.tags.delete([tag_id], [])
            for follows in self._company.book.by_user.values():
                for follow in follows.values():
                    if tag_id in follow.tag_ids:
                        follow.tag_ids.remove(tag_id)
            return EXTERNAL_TAG, "delete", [("Id", tag_id), ("TagType", "tag")]

        return self._run([(0.0, apply)])

    def group_created(self, owner: str, customers: int = 5) -> Scenario:
        """An employee creates a customer group with some of their customers."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            company = self._company
            chat = GroupChat(ids.chat_id(self._rng), f"客户群{len(company.chats) + 1}", owner, int(now))
            chat.members.append(ChatMember(owner, 1, int(now), 1))
            mine = [f.external_userid for f in company.book.follows_of_user(owner)]
            for external_userid in self._rng.sample(mine, min(customers, len(mine))):
                chat.members.append(ChatMember(external_userid, 2, int(now), 1, owner))
            chat.member_version = ids.token(self._rng, 32)
            company.chats[chat.chat_id] = chat
            return EXTERNAL_CHAT, "create", [("ChatId", chat.chat_id)]

        return self._run([(0.0, apply)])

    def group_members_joined(self, chat_id: str, customers: int = 1) -> Scenario:
        """Customers join a group through the owner's invitation (update / add_member)."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            chat = self._company.chats[chat_id]
            present = {m.userid for m in chat.members}
            pool = [c for c in self._company.book.customers if c not in present]
            joined = self._rng.sample(pool, min(customers, len(pool)))
            for external_userid in joined:
                chat.members.append(ChatMember(external_userid, 2, int(now), 1, chat.owner))
            last, chat.member_version = chat.member_version, ids.token(self._rng, 32)
            fields: list[Field] = [
                ("ChatId", chat_id),
                ("UpdateDetail", "add_member"),
                ("JoinScene", 1),
                ("MemChangeCnt", len(joined)),
                ("MemChangeList", joined),
                ("LastMemVer", last),
                ("CurMemVer", chat.member_version),
            ]
            return EXTERNAL_CHAT, "update", fields

        return self._run([(0.0, apply)])

    def group_joined_by_way(self, config_id: str, customers: int = 1) -> Scenario:
        """New customers scan a join way's QR code, one event each: they join its first chat that is not full
        (add_member, join scene 3, the way's state), or, when all are full and the way may, a new room named after
        its base name and id (create)."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            company = self._company
            way = company.join_ways[config_id]
            customer = Customer(
                ids.external_userid(self._rng), person_name(self._rng), 1, 0, "o" + ids.token(self._rng, 27)
            )
            company.book.add_customer(customer)
            member = ChatMember(customer.external_userid, 2, int(now), 3, "", way.state)
            full = company.join_way_room_full
            open_chats = [
                company.chats[c]
                for c in way.chat_id_list
                if c in company.chats and company.chats[c].status == 0 and len(company.chats[c].members) < full
            ]
            if open_chats:
                chat = open_chats[0]
                chat.members.append(member)
                last, chat.member_version = chat.member_version, ids.token(self._rng, 32)
                fields: list[Field] = [
                    ("ChatId", chat.chat_id),
                    ("UpdateDetail", "add_member"),
                    ("JoinScene", 3),
                    ("MemChangeCnt", 1),
                    ("MemChangeList", [customer.external_userid]),
                    ("LastMemVer", last),
                    ("CurMemVer", chat.member_version),
                ]
                return EXTERNAL_CHAT, "update", fields
            if not way.auto_create_room or not way.chat_id_list:
                raise ValueError("every chat of the join way is full")
            owner = company.chats[way.chat_id_list[0]].owner
            chat = GroupChat(ids.chat_id(self._rng), f"{way.room_base_name}{way.room_base_id}", owner, int(now))
            chat.members = [ChatMember(owner, 1, int(now), 1), member]
            chat.member_version = ids.token(self._rng, 32)
            company.chats[chat.chat_id] = chat
            way.room_base_id += 1
            way.chat_id_list = [*way.chat_id_list, chat.chat_id][-5:]
            return EXTERNAL_CHAT, "create", [("ChatId", chat.chat_id)]

        return self._run([(0.0, apply) for _ in range(customers)])

    def group_members_quit(self, chat_id: str, customers: int = 1) -> Scenario:
        """Customers leave a group on their own (update / del_member, quit scene 0)."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            chat = self._company.chats[chat_id]
            leaving = [m.userid for m in chat.members if m.type == 2][:customers]
            chat.members = [m for m in chat.members if m.userid not in leaving]
            last, chat.member_version = chat.member_version, ids.token(self._rng, 32)
            fields: list[Field] = [
                ("ChatId", chat_id),
                ("UpdateDetail", "del_member"),
                ("QuitScene", 0),
                ("MemChangeCnt", len(leaving)),
                ("MemChangeList", leaving),
                ("LastMemVer", last),
                ("CurMemVer", chat.member_version),
            ]
            return EXTERNAL_CHAT, "update", fields

        return self._run([(0.0, apply)])

    def group_dismissed(self, chat_id: str) -> Scenario:
        """The owner dismisses a group."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            self._company.chats.pop(chat_id, None)
            return EXTERNAL_CHAT, "dismiss", [("ChatId", chat_id)]

        return self._run([(0.0, apply)])

    def employee_left(self, userid: str) -> Scenario:
        """An employee leaves (change_contact delete_user); their customers become unassigned."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            company = self._company
            company.employees[userid].resigned_at = now
            for follow in company.book.follows_of_user(userid):
                company.unassigned[(userid, follow.external_userid)] = int(now)
            return CONTACT, "delete_user", [("UserID", userid)]

        return self._run([(0.0, apply)])

    def link_friends(self, link_id: str, n: int, *, customer_channel: str = "", over_seconds: float = 0.0) -> Scenario:
        """``n`` WeChat users click an acquisition link (with ``customer_channel`` appended) and add one of its
        employees: each is a click, a new customer of the link with that State, one use of the quota, and an
        add_external_contact event with the State and a WelcomeCode. Quota events are played with
        ``acquisition_event``."""
        step = over_seconds / n if n else 0.0
        return self._run([(i * step, self._link_friend(link_id, customer_channel)) for i in range(n)])

    def acquisition_event(self, change_type: str, link_id: str = "") -> Scenario:
        """A customer_acquisition event (quota_expire_soon, link_unavailable, …); link_unavailable disables the link."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            link = self._company.acquisition.links.get(link_id)
            if change_type == "link_unavailable" and link is not None:
                link.available = False
            return CUSTOMER_ACQUISITION, change_type, [("LinkId", link_id)] if link_id else []

        return self._run([(0.0, apply)])

    def customer_started_chat(self, link_id: str, external_userid: str) -> Scenario:
        """The customer who came through the link sends their first message (customer_start_chat)."""

        def apply(now: float) -> tuple[str, str, list[Field]]:
            link = self._company.acquisition.links[link_id]
            came = next(c for c in link.customers if c.external_userid == external_userid)
            came.chat_status = 1
            fields: list[Field] = [("UserID", came.userid), ("ExternalUserID", external_userid), ("LinkId", link_id)]
            return CUSTOMER_ACQUISITION, "customer_start_chat", fields

        return self._run([(0.0, apply)])

    # ---- machinery -------------------------------------------------------------------------------------------

    def _new_friend(self, state: str, userid: str | None, welcome: bool) -> Callable[[float], tuple]:
        def apply(now: float) -> tuple[str, str, list[Field]]:
            company = self._company
            chosen = userid or self._pick_employee(state)
            customer = Customer(
                ids.external_userid(self._rng), person_name(self._rng), 1, 0, "o" + ids.token(self._rng, 27)
            )
            company.book.add_customer(customer)
            follow = Follow(chosen, customer.external_userid, int(now), 1, state, oper_userid=customer.external_userid)
            company.book.add_follow(follow)
            fields: list[Field] = [("UserID", chosen), ("ExternalUserID", customer.external_userid)]
            if state:
                fields.append(("State", state))
            if welcome:
                fields.append(("WelcomeCode", company.welcome.issue(chosen, customer.external_userid, now).code))
            return EXTERNAL_CONTACT, "add_external_contact", fields

        return apply

    def _link_friend(self, link_id: str, customer_channel: str) -> Callable[[float], tuple]:
        def apply(now: float) -> tuple[str, str, list[Field]]:
            company = self._company
            link = company.acquisition.links[link_id]
            link.clicks.append(int(now))
            reach = set(link.users) | {
                e.userid for e in company.employees.values() if set(e.departments) & set(link.departments)
            }
            userid = self._rng.choice(sorted(u for u in reach if company.active_employee(u) is not None))
            event, change_type, fields = self._new_friend(customer_channel, userid, True)(now)
            external_userid = dict(fields)["ExternalUserID"]
            link.customers.append(LinkCustomer(external_userid, userid, customer_channel, int(now)))
            company.acquisition.consume()
            return event, change_type, fields

        return apply

    def _pick_employee(self, state: str) -> str:
        company = self._company
        ways = [w for w in company.contact_ways.values() if state and w["state"] == state]
        users = [u for w in ways for u in w["user"] if company.active_employee(u) is not None]
        if not users:
            users = [e.userid for e in company.employees.values() if e.active and e.customer_contact]
        return self._rng.choice(users)

    def _run(self, steps: list[Step]) -> Scenario:
        scenario = Scenario(next(self._ids), len(steps))
        threading.Thread(target=self._play, args=(scenario, steps), daemon=True, name="wecom-sim-scenario").start()
        return scenario

    def _play(self, scenario: Scenario, steps: list[Step]) -> None:
        started = time.monotonic()
        try:
            for offset, apply in steps:
                delay = self._host.real_seconds(offset) - (time.monotonic() - started)
                if delay > 0:
                    time.sleep(delay)
                now, (event, change_type, fields, url) = self._host.apply(
                    lambda at, apply=apply: (*apply(at), self._company.callback_url)
                )
                emitted = Emitted(event, change_type, dict(fields), int(now))
                scenario.emitted.append(emitted)
                agent = str(self._company.agent_id) if event == CONTACT else ""
                plaintext = event_xml(self._company.corpid, int(now), event, change_type, fields)
                if url:
                    query, body = sealed(self._company, plaintext, int(now), agent)
                    scenario._deliveries.append(self._pool.submit(self._deliver, url, query, body, emitted))
                else:
                    self._count("skipped")
        finally:
            scenario._done.set()

    def _deliver(self, url: str, query: str, body: bytes, emitted: Emitted) -> None:
        separator = "&" if "?" in url else "?"
        for attempt in range(1 + self._delivery.retries):
            emitted.attempts += 1
            self._count("sent")
            if attempt:
                self._count("retried")
            try:
                response = self._client.post(
                    url + separator + query,
                    content=body,
                    headers={"Content-Type": "text/xml"},
                    timeout=self._delivery.timeout_seconds,
                )
                if response.status_code == 200:
                    emitted.delivered = True
                    self._count("delivered")
                    return
            except httpx.HTTPError:
                self._count("timeouts_or_errors")
        self._count("failed")

    def _count(self, what: str) -> None:
        self._host.count_callback(self._company.corpid, what)
