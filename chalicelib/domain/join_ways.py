"""A group join way (群活码) as a plain value: the QR code that puts a new member into the first of up to five
chats that has room, opens a new room (named `room_base_name` + `room_base_id`) when they are all full, and carries
a `state` so the members it brings are attributed to it, as friend channels do with new friends."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

JOIN_WAY_MAX_CHATS = 5
ROOM_BASE_NAME_MAX_CHARS = 40
QR_CODE_SCENE = 2


@dataclass(frozen=True)
class JoinWay:
    config_id: str
    name: str
    state: str
    chat_ids: tuple[str, ...]
    auto_create_room: bool = True
    room_base_name: str = ""
    room_base_id: int = 1
    qr_code: str = ""
    created_at: int = 0
    updated_at: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "join_way_id": self.config_id,
            "name": self.name,
            "state": self.state,
            "chat_ids": list(self.chat_ids),
            "auto_create_room": self.auto_create_room,
            "room_base_name": self.room_base_name,
            "room_base_id": self.room_base_id,
            "qr_code": self.qr_code,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def wecom_body(self) -> dict[str, Any]:
        """The add/update_join_way body for this configuration (its state is fixed at creation)."""
        body: dict[str, Any] = {
            "scene": QR_CODE_SCENE,
            "remark": self.name,
            "auto_create_room": int(self.auto_create_room),
            "chat_id_list": list(self.chat_ids),
            "state": self.state,
        }
        if self.auto_create_room:
            body["room_base_name"] = self.room_base_name
            body["room_base_id"] = self.room_base_id
        return body


@dataclass(frozen=True)
class JoinWayChanges:
    """What an update may change; None leaves a field as it is."""

    name: str | None = None
    chat_ids: tuple[str, ...] | None = None
    auto_create_room: bool | None = None
    room_base_name: str | None = None
    room_base_id: int | None = None

    def applied_to(self, way: JoinWay, now: int) -> JoinWay:
        return replace(
            way,
            name=way.name if self.name is None else self.name,
            chat_ids=way.chat_ids if self.chat_ids is None else self.chat_ids,
            auto_create_room=way.auto_create_room if self.auto_create_room is None else self.auto_create_room,
            room_base_name=way.room_base_name if self.room_base_name is None else self.room_base_name,
            room_base_id=way.room_base_id if self.room_base_id is None else self.room_base_id,
            updated_at=now,
        )
