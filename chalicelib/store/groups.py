"""Customer group chats of one tenant and their members (data table).

| item | pk | sk | index keys |
|---|---|---|---|
| group chat | `<t>#chat#<chat_id>` | `profile` | gsi1 `<t>#chat-owner#<owner>` / `<chat_id>` (live chats only) |
| member | `<t>#chat#<chat_id>` | `member#<userid>` | |

A chat carries the WeCom event time it was written for; an older event never overwrites it (conditional write), and
its members are replaced together with it. Dismissed chats keep their profile (status `dismissed`) and lose members.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.store.dynamo import batch_writer, is_condition_failure
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table

LIVE, DISMISSED = "live", "dismissed"


class ByOwnerIndex(GlobalSecondaryIndex["ChatItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


@on_table(resources.DATA)
class ChatItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_owner = ByOwnerIndex()
    chat_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    notice = UnicodeAttribute(null=True)
    create_time = NumberAttribute(null=True)
    member_version = UnicodeAttribute(null=True)
    member_count = NumberAttribute()
    status = UnicodeAttribute()
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


@dataclass(frozen=True)
class ChatMember:
    userid: str
    type: int
    join_time: int = 0
    join_scene: int = 0
    invitor: str = ""


@dataclass(frozen=True)
class GroupChat:
    chat_id: str
    event_time: int
    name: str = ""
    owner: str = ""
    notice: str = ""
    create_time: int = 0
    member_version: str = ""
    status: str = LIVE
    member_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            "name": self.name,
            "owner": self.owner,
            "create_time": self.create_time,
            "status": self.status,
            "member_count": self.member_count,
        }


def chat_from_wecom(group_chat: dict[str, Any], event_time: int) -> tuple[GroupChat, list[ChatMember]]:
    """A groupchat/get answer's `group_chat` as our values."""
    members = [
        ChatMember(
            str(m["userid"]),
            int(m.get("type", 0)),
            int(m.get("join_time", 0)),
            int(m.get("join_scene", 0)),
            str((m.get("invitor") or {}).get("userid", "")),
        )
        for m in group_chat.get("member_list", [])
    ]
    chat = GroupChat(
        chat_id=group_chat["chat_id"],
        event_time=event_time,
        name=group_chat.get("name", ""),
        owner=group_chat.get("owner", ""),
        notice=group_chat.get("notice", ""),
        create_time=int(group_chat.get("create_time", 0)),
        member_version=group_chat.get("member_version", ""),
        member_count=len(members),
    )
    return chat, members


class GroupStore:
    """Group chats of one tenant."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        self.settings = bind_models(settings)

    def _pk(self, chat_id: str) -> str:
        return self.keys.key("chat", chat_id)

    def _save_profile(self, chat: GroupChat) -> bool:
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
            event_time=chat.event_time,
        )
        if chat.status == LIVE and chat.owner:
            item.gsi1pk = self.keys.key("chat-owner", chat.owner)
            item.gsi1sk = chat.chat_id
        try:
            item.save(condition=ChatItem.pk.does_not_exist() | (ChatItem.event_time <= chat.event_time))
        except PutError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def put_chat(self, chat: GroupChat, members: Iterable[ChatMember]) -> bool:
        """Write a chat and replace its members, unless a newer event's view is stored; False when older."""
        if not self._save_profile(chat):
            return False
        wanted = {m.userid: m for m in members}
        with batch_writer(ChatMemberItem, self.settings) as batch:
            for old in ChatMemberItem.query(self._pk(chat.chat_id), ChatMemberItem.sk.startswith("member#")):
                if old.userid not in wanted:
                    batch.delete(old)
            for m in wanted.values():
                batch.put(
                    ChatMemberItem(
                        self._pk(chat.chat_id),
                        f"member#{m.userid}",
                        userid=m.userid,
                        type=m.type,
                        join_time=m.join_time,
                        join_scene=m.join_scene,
                        invitor=m.invitor or None,
                    )
                )
        return True

    def dismiss(self, chat_id: str, event_time: int) -> bool:
        """Mark a chat dismissed and drop its members; False when a newer event's view is stored."""
        current = self.get_chat(chat_id)
        base = current or GroupChat(chat_id, event_time)
        chat = GroupChat(
            chat_id, event_time, base.name, base.owner, base.notice, base.create_time, "", DISMISSED, member_count=0
        )
        return self.put_chat(chat, [])

    def get_chat(self, chat_id: str) -> GroupChat | None:
        try:
            item = ChatItem.get(self._pk(chat_id), "profile", consistent_read=True)
        except DoesNotExist:
            return None
        return GroupChat(
            item.chat_id,
            int(item.event_time),
            item.name or "",
            item.owner or "",
            item.notice or "",
            int(item.create_time or 0),
            item.member_version or "",
            item.status,
            int(item.member_count),
        )

    def members(self, chat_id: str) -> list[ChatMember]:
        return [
            ChatMember(i.userid, int(i.type), int(i.join_time or 0), int(i.join_scene or 0), i.invitor or "")
            for i in ChatMemberItem.query(self._pk(chat_id), ChatMemberItem.sk.startswith("member#"))
        ]

    def chats_owned_by(self, owner: str) -> list[str]:
        """Ids of the live chats `owner` owns."""
        return [i.gsi1sk for i in ChatItem.by_owner.query(self.keys.key("chat-owner", owner))]
