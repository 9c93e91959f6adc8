"""Plain records of a simulated company: people, customers, follow relations, tags, group chats."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Department:
    """A department of the address book."""

    id: int
    name: str
    parentid: int
    order: int


@dataclass(slots=True)
class Employee:
    """A member of the address book; ``resigned_at`` is set when the member has left."""

    userid: str
    name: str
    departments: list[int]
    position: str
    gender: int
    customer_contact: bool = True
    activated: bool = True
    resigned_at: float | None = None
    main_department: int = 0
    leader_in: set[int] = field(default_factory=set)
    direct_leader: list[str] = field(default_factory=list)

    @property
    def main(self) -> int:
        """The main department (``main_department``): the one set, else the first listed."""
        return self.main_department or self.departments[0]

    @property
    def active(self) -> bool:
        return self.resigned_at is None


@dataclass(slots=True)
class Customer:
    """An external contact (WeChat user type 1, WeCom user type 2)."""

    external_userid: str
    name: str
    type: int
    gender: int
    unionid: str
    corp_name: str = ""
    corp_full_name: str = ""


@dataclass(slots=True)
class Follow:
    """The relation between one employee and one customer (``follow_user`` / ``follow_info`` in WeCom)."""

    userid: str
    external_userid: str
    createtime: int
    add_way: int
    state: str = ""
    remark: str = ""
    description: str = ""
    remark_corp_name: str = ""
    remark_mobiles: list[str] = field(default_factory=list)
    tag_ids: list[str] = field(default_factory=list)
    oper_userid: str = ""
    deleted_by_customer: bool = False


@dataclass(slots=True)
class Tag:
    """A corp tag inside a tag group."""

    id: str
    name: str
    create_time: int
    order: int
    group_id: str


@dataclass(slots=True)
class TagGroup:
    """A corp tag group and its tags (insertion-ordered)."""

    group_id: str
    group_name: str
    create_time: int
    order: int
    tags: dict[str, Tag] = field(default_factory=dict)


@dataclass(slots=True)
class ChatMember:
    """A member of a customer group chat: type 1 employee, 2 external contact."""

    userid: str
    type: int
    join_time: int
    join_scene: int
    invitor: str = ""
    state: str = ""


@dataclass(slots=True)
class GroupChat:
    """A customer group chat (客户群)."""

    chat_id: str
    name: str
    owner: str
    create_time: int
    notice: str = ""
    members: list[ChatMember] = field(default_factory=list)
    admins: list[str] = field(default_factory=list)
    status: int = 0
    member_version: str = ""


@dataclass(slots=True)
class JoinWay:
    """A group join way (群活码): up to five chats, a new room when they are all full, and a state for attribution."""

    config_id: str
    scene: int
    chat_id_list: list[str]
    remark: str = ""
    auto_create_room: int = 1
    room_base_name: str = ""
    room_base_id: int = 1
    state: str = ""
    qr_code: str = ""
