"""Customer group chats of one tenant, their members, daily join/quit figures and receiving receipts (data table).

| item | pk | sk | index keys |
|---|---|---|---|
| group chat | `<t>#chat#<chat_id>` | `profile` | gsi1 `<t>#chat-owner#<owner>` / `<name>#<chat_id>` (live only) |
| | | | gsi2 `<t>#chats` / `<name>#<chat_id>` (every chat) |
| member | `<t>#chat#<chat_id>` | `member#<userid>` | |
| mass-message receipts | `<t>#chat#<chat_id>` | `reach` | |
| daily figures | `<t>#chat-day#<scope>#<key>` | `<YYYY-MM-DD>` | |

A chat's profile is the commit point of a write: its members (and the day figures of who joined or quit) are written
first, then the profile, on the condition that its members version is still the one read and that no newer view
(event time) is stored. A crash before the profile leaves the old version stored, and the next read finds the members
already written (nothing counted twice). A read that changes nothing (same version, same profile) writes nothing.
Dismissed chats keep their profile (status `dismissed`, out of the owner index) and lose their members.
Daily figures are added with UpdateItem ADD: two writers racing on one chat may count a change twice (figures, not
accounting); the profile's condition keeps the members themselves right.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.audience import Receipt
from chalicelib.domain.group_chats import (
    DISMISSED,
    LIVE,
    ChatMember,
    DailyFigures,
    GroupChat,
    MemberChanges,
    Scope,
    member_changes,
)
from chalicelib.store.dynamo import (
    Conflict,
    add_to_each,
    batch_writer,
    decode_key,
    encode_cursor,
    is_condition_failure,
)
from chalicelib.store.keys import TenantKeys
from chalicelib.store.receipts import receipt_from_token, receipt_token
from chalicelib.store.tables import bind_models, on_table

__all__ = ["DISMISSED", "LIVE", "ChatWrite", "GroupStore"]

NAME_KEY_MAX_CHARS = 100


class ByOwnerIndex(GlobalSecondaryIndex["ChatItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ByNameIndex(GlobalSecondaryIndex["ChatItem"]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


@on_table(resources.DATA)
class ChatItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_owner = ByOwnerIndex()
    by_name = ByNameIndex()
    chat_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    notice = UnicodeAttribute(null=True)
    create_time = NumberAttribute(null=True)
    member_version = UnicodeAttribute(null=True)
    member_count = NumberAttribute()
    status = UnicodeAttribute()
    inherit_status = NumberAttribute(null=True)
    states = UnicodeSetAttribute(null=True)
    event_time = NumberAttribute()


@on_table(resources.DATA)
class ChatMemberItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    userid = UnicodeAttribute()
    type = NumberAttribute()
    join_time = NumberAttribute(null=True)
    join_scene = NumberAttribute(null=True)
    invitor = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)


@on_table(resources.DATA)
class ChatReachItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    receipts = UnicodeSetAttribute(null=True)


@on_table(resources.DATA)
class ChatDayItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    joins = NumberAttribute(null=True)
    quits = NumberAttribute(null=True)


def _chat(item: ChatItem) -> GroupChat:
    return GroupChat(
        chat_id=item.chat_id,
        event_time=int(item.event_time),
        name=item.name or "",
        owner=item.owner or "",
        notice=item.notice or "",
        create_time=int(item.create_time or 0),
        member_version=item.member_version or "",
        status=item.status,
        member_count=int(item.member_count),
        inherit_status=int(item.inherit_status or 0),
        states=frozenset(item.states or ()),
    )


def _member(item: ChatMemberItem) -> ChatMember:
    return ChatMember(
        userid=item.userid,
        type=int(item.type),
        join_time=int(item.join_time or 0),
        join_scene=int(item.join_scene or 0),
        invitor=item.invitor or "",
        state=item.state or "",
        name=item.name or "",
    )


def _name_key(chat: GroupChat) -> str:
    return f"{chat.name[:NAME_KEY_MAX_CHARS]}#{chat.chat_id}"


class ChatWrite:
    """What one write did: the member changes it stored and how many items it wrote."""

    __slots__ = ("changes", "items", "written")

    def __init__(self, written: bool, changes: MemberChanges | None = None, items: int = 0) -> None:
        self.written, self.changes, self.items = written, changes or MemberChanges(), items


class GroupStore:
    """Group chats of one tenant."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        self.settings = bind_models(settings)

    def _pk(self, chat_id: str) -> str:
        return self.keys.key("chat", chat_id)

    # reads

    def get_chat(self, chat_id: str) -> GroupChat | None:
        try:
            return _chat(ChatItem.get(self._pk(chat_id), "profile", consistent_read=True))
        except DoesNotExist:
            return None

    def get_chats(self, chat_ids: Iterable[str]) -> dict[str, GroupChat]:
        """The stored chats among `chat_ids` (BatchGet, 100 keys per call)."""
        keys = [(self._pk(c), "profile") for c in dict.fromkeys(chat_ids)]
        return {i.chat_id: _chat(i) for i in ChatItem.batch_get(keys)} if keys else {}

    def members(self, chat_id: str) -> list[ChatMember]:
        return [_member(i) for i in ChatMemberItem.query(self._pk(chat_id), ChatMemberItem.sk.startswith("member#"))]

    def chats_owned_by(self, owner: str) -> list[str]:
        """Ids of the live chats `owner` owns."""
        return [i.chat_id for i in ChatItem.by_owner.query(self.keys.key("chat-owner", owner))]

    def owner_chats(self, owner: str, name_prefix: str = "") -> Iterator[GroupChat]:
        """The live chats `owner` owns, by name (a name prefix narrows the Query)."""
        condition = ChatItem.gsi1sk.startswith(name_prefix) if name_prefix else None
        for item in ChatItem.by_owner.query(self.keys.key("chat-owner", owner), condition):
            yield _chat(item)

    def chats_page(
        self, limit: int, cursor: str | None, owner: str = "", name_prefix: str = ""
    ) -> tuple[list[GroupChat], str | None]:
        """A page of chats by name: of one owner (live only, gsi1) or of the tenant (every status, gsi2)."""
        if owner:
            index, attr, partition = ChatItem.by_owner, ChatItem.gsi1sk, self.keys.key("chat-owner", owner)
            start = decode_key(cursor, ("gsi1pk", partition))
        else:
            index, attr, partition = ChatItem.by_name, ChatItem.gsi2sk, self.keys.key("chats")
            start = decode_key(cursor, ("gsi2pk", partition))
        condition = attr.startswith(name_prefix) if name_prefix else None
        page = index.query(partition, condition, limit=limit, last_evaluated_key=start)
        items = [_chat(i) for i in page]
        return items, encode_cursor(page.last_evaluated_key)

    def daily(self, scope: Scope, key: str, first_day: str, last_day: str) -> list[tuple[str, int, int]]:
        """(day, joins, quits) of one scope's key between two days (inclusive), in day order."""
        pk = self.keys.key("chat-day", scope.value, key)
        return [
            (i.sk, int(i.joins or 0), int(i.quits or 0))
            for i in ChatDayItem.query(pk, ChatDayItem.sk.between(first_day, last_day))
        ]

    # writes

    def put_chat(
        self,
        chat: GroupChat,
        members: Sequence[ChatMember],
        stored: GroupChat | None,
        figures: DailyFigures,
    ) -> ChatWrite:
        """Store a new view of a chat read from WeCom, given the stored one (`stored`, None when unknown). Member
        changes are written, counted into `figures` (the caller writes them with `add_figures`), and the profile
        is committed last; Conflict when another writer moved the chat since `stored` was read, ChatWrite(False)
        when a newer view is stored."""
        old = self.members(chat.chat_id) if stored is not None and stored.status == LIVE else []
        changes = member_changes(old, members)
        items = 0
        with batch_writer(ChatMemberItem, self.settings) as batch:
            for member in changes.quit:
                batch.delete(ChatMemberItem(self._pk(chat.chat_id), f"member#{member.userid}"))
            for member in changes.writes:
                batch.put(self._member_item(chat.chat_id, member))
        items += batch.written
        if not self._save_profile(chat, stored):
            return ChatWrite(False)
        figures.count(chat, changes, chat.event_time)
        return ChatWrite(True, changes, items + 1)

    def drop_members(
        self, chat: GroupChat, userids: Iterable[str], new_version: str, event_time: int, figures: DailyFigures
    ) -> ChatWrite:
        """Apply a del_member event that starts from the stored version `chat.member_version`."""
        leaving = set(userids)
        present = self.members(chat.chat_id)
        old = [m for m in present if m.userid in leaving]
        with batch_writer(ChatMemberItem, self.settings) as batch:
            for member in old:
                batch.delete(ChatMemberItem(self._pk(chat.chat_id), f"member#{member.userid}"))
        remaining_states = {m.state for m in present if m.state and m.userid not in leaving}
        updated = GroupChat(
            chat.chat_id,
            max(event_time, chat.event_time),
            chat.name,
            chat.owner,
            chat.notice,
            chat.create_time,
            new_version,
            LIVE,
            max(0, chat.member_count - len(old)),
            chat.inherit_status,
            frozenset(remaining_states),
        )
        if not self._save_profile(updated, chat):
            return ChatWrite(False)
        changes = MemberChanges(quit=tuple(old))
        figures.count(updated, changes, event_time)
        return ChatWrite(True, changes, batch.written + 1)

    def dismiss(self, chat_id: str, event_time: int, figures: DailyFigures) -> bool:
        """Mark a chat dismissed and drop its members; False when a newer view is stored."""
        current = self.get_chat(chat_id)
        base = current or GroupChat(chat_id, event_time)
        chat = GroupChat(chat_id, event_time, base.name, base.owner, base.notice, base.create_time, "", DISMISSED, 0)
        old = self.members(chat_id)
        with batch_writer(ChatMemberItem, self.settings) as batch:
            for member in old:
                batch.delete(ChatMemberItem(self._pk(chat_id), f"member#{member.userid}"))
        if not self._save_profile(chat, current):
            return False
        figures.count(chat, MemberChanges(quit=tuple(old)), event_time)
        return True

    def add_figures(self, figures: DailyFigures) -> int:
        """Write the day cells in `figures` (one UpdateItem ADD each) and clear them; returns the writes."""
        cells = figures.cells()
        for scope, key, day, joins, quits in cells:
            ChatDayItem(self.keys.key("chat-day", scope.value, key), day).update(
                actions=[ChatDayItem.joins.add(joins), ChatDayItem.quits.add(quits)]
            )
        figures.clear()
        return len(cells)

    def _member_item(self, chat_id: str, m: ChatMember) -> ChatMemberItem:
        return ChatMemberItem(
            self._pk(chat_id),
            f"member#{m.userid}",
            userid=m.userid,
            type=m.type,
            join_time=m.join_time,
            join_scene=m.join_scene,
            invitor=m.invitor or None,
            state=m.state or None,
            name=m.name or None,
        )

    def _save_profile(self, chat: GroupChat, stored: GroupChat | None) -> bool:
        """Write the profile if the stored one is still `stored` (its members version) and not newer."""
        item = ChatItem(
            self._pk(chat.chat_id),
            "profile",
            chat_id=chat.chat_id,
            name=chat.name or None,
            owner=chat.owner or None,
            notice=chat.notice or None,
            create_time=chat.create_time,
            member_version=chat.member_version or None,
            member_count=chat.member_count,
            status=chat.status,
            inherit_status=chat.inherit_status,
            states=set(chat.states) or None,
            event_time=chat.event_time,
            gsi2pk=self.keys.key("chats"),
            gsi2sk=_name_key(chat),
        )
        if chat.status == LIVE and chat.owner:
            item.gsi1pk = self.keys.key("chat-owner", chat.owner)
            item.gsi1sk = _name_key(chat)
        if stored is None:
            condition = ChatItem.pk.does_not_exist()
        else:
            same = (
                ChatItem.member_version == stored.member_version
                if stored.member_version
                else ChatItem.member_version.does_not_exist()
            )
            condition = same & (ChatItem.event_time <= chat.event_time)
        try:
            item.save(condition=condition)
        except PutError as error:
            if not is_condition_failure(error):
                raise
            now = self.get_chat(chat.chat_id)
            if now is not None and now.event_time > chat.event_time:
                return False
            raise Conflict(chat.chat_id) from None
        return True

    # mass-message receipts

    def get_receipts(self, chat_ids: Iterable[str]) -> dict[str, tuple[Receipt, ...]]:
        """The receipts of these chats (BatchGet); chats without any are absent."""
        keys = [(self._pk(c), "reach") for c in dict.fromkeys(chat_ids)]
        found: dict[str, tuple[Receipt, ...]] = {}
        for item in ChatReachItem.batch_get(keys) if keys else ():
            chat_id = item.pk.split("#", 2)[2]
            found[chat_id] = tuple(sorted((receipt_from_token(t) for t in item.receipts or ()), key=lambda r: r.at))
        return found

    def record_receipts(self, broadcast_id: str, at: datetime, chat_ids: Iterable[str]) -> None:
        """Note that these chats get `broadcast_id` at `at` (an idempotent set ADD each, written as the customers'
        receipts are: `store.receipts`)."""
        token = receipt_token(Receipt(broadcast_id, at))
        items = [ChatReachItem(self._pk(c), "reach") for c in dict.fromkeys(chat_ids)]
        add_to_each(items, ChatReachItem.receipts.add({token}), self.settings)
