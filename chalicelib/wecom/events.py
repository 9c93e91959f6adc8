"""Typed WeCom callback events parsed from decrypted XML, and their versioned JSON form for SQS.

Pure: no I/O. Known (Event, ChangeType) pairs become frozen dataclasses; anything else becomes an `UnknownEvent`
that keeps every raw field, so nothing WeCom sends is dropped silently. An event whose known fields do not parse
(e.g. a non-numeric JoinScene) is kept as an `UnknownEvent` too rather than rejected: WeCom would only retry it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from xml.etree.ElementTree import Element, tostring

from chalicelib.wecom.crypto import MalformedXml, parse_xml

MESSAGE_TYPE = "wecom_event"
MESSAGE_VERSION = 1

CHANGE_EXTERNAL_CONTACT = "change_external_contact"
CHANGE_EXTERNAL_CHAT = "change_external_chat"
CHANGE_EXTERNAL_TAG = "change_external_tag"
CHANGE_CONTACT = "change_contact"
CUSTOMER_ACQUISITION = "customer_acquisition"

NEW_FRIEND_CHANGE_TYPES = frozenset({"add_external_contact", "add_half_external_contact"})


@dataclass(frozen=True, kw_only=True)
class WeComEvent:
    """What every callback event has: the corp it is about, when WeCom made it, and what happened."""

    corp_id: str
    create_time: int
    event: str
    change_type: str

    TAG: ClassVar[str] = ""
    _REGISTRY: ClassVar[dict[str, type[WeComEvent]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        WeComEvent._REGISTRY[cls.TAG] = cls

    @property
    def kind(self) -> str:
        """`<Event>/<ChangeType>`, e.g. `change_external_contact/add_external_contact`."""
        return f"{self.event}/{self.change_type}"

    @property
    def is_realtime(self) -> bool:
        """True for events that must reach a worker within seconds (a WelcomeCode lives 20 s)."""
        return False

    @property
    def dedupe_key(self) -> str:
        """Tells apart distinct events of the same second; equal for WeCom's retries of one event."""
        return "|".join((self.corp_id, self.event, self.change_type, *self._identity(), str(self.create_time)))

    def _identity(self) -> tuple[str, ...]:
        raise NotImplementedError

    def to_message(self) -> dict[str, Any]:
        """The JSON-ready SQS body: type, version, class tag and the fields."""
        fields = {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"type": MESSAGE_TYPE, "v": MESSAGE_VERSION, "class": self.TAG, "event": fields}

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> WeComEvent:
        """Inverse of `to_message`; a message of another type, version or shape raises ValueError."""
        if message.get("type") != MESSAGE_TYPE or message.get("v") != MESSAGE_VERSION:
            raise ValueError(f"not a v{MESSAGE_VERSION} {MESSAGE_TYPE} message")
        event_cls = WeComEvent._REGISTRY.get(message.get("class", ""))
        data = message.get("event")
        if event_cls is None or not isinstance(data, Mapping):
            raise ValueError("unknown event class or missing event")
        try:
            return event_cls(**{f.name: _from_json(data[f.name]) for f in dataclasses.fields(event_cls)})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed {event_cls.TAG} event: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class ExternalContactEvent(WeComEvent):
    """change_external_contact: a follow relation between a member and a customer changed."""

    TAG: ClassVar[str] = "external_contact"
    CHANGE_TYPES: ClassVar[frozenset[str]] = frozenset(
        {
            "add_external_contact",
            "add_half_external_contact",
            "edit_external_contact",
            "del_external_contact",
            "del_follow_user",
            "transfer_fail",
            "msg_audit_approved",
        }
    )

    user_id: str
    external_user_id: str
    state: str = ""
    welcome_code: str = field(default="", repr=False)
    source: str = ""
    fail_reason: str = ""

    @property
    def is_realtime(self) -> bool:
        return self.change_type in NEW_FRIEND_CHANGE_TYPES or bool(self.welcome_code)

    def _identity(self) -> tuple[str, ...]:
        return (self.user_id, self.external_user_id)

    @classmethod
    def parse(cls, common: dict[str, Any], raw: Mapping[str, str]) -> ExternalContactEvent:
        return cls(
            **common,
            user_id=raw.get("UserID", ""),
            external_user_id=raw.get("ExternalUserID", ""),
            state=raw.get("State", ""),
            welcome_code=raw.get("WelcomeCode", ""),
            source=raw.get("Source", ""),
            fail_reason=raw.get("FailReason", ""),
        )


@dataclass(frozen=True, kw_only=True)
class ExternalChatEvent(WeComEvent):
    """change_external_chat: a customer group was created, updated or dismissed."""

    TAG: ClassVar[str] = "external_chat"
    CHANGE_TYPES: ClassVar[frozenset[str]] = frozenset({"create", "update", "dismiss"})

    chat_id: str
    update_detail: str = ""
    join_scene: int | None = None
    quit_scene: int | None = None
    mem_change_cnt: int | None = None
    mem_change_list: tuple[str, ...] = ()
    last_mem_ver: str = ""
    cur_mem_ver: str = ""

    def _identity(self) -> tuple[str, ...]:
        return ("", self.chat_id, self.update_detail, self.last_mem_ver, self.cur_mem_ver)

    @classmethod
    def parse(cls, common: dict[str, Any], raw: Mapping[str, str], root: Element) -> ExternalChatEvent:
        return cls(
            **common,
            chat_id=raw.get("ChatId", ""),
            update_detail=raw.get("UpdateDetail", ""),
            join_scene=_optional_int(raw.get("JoinScene")),
            quit_scene=_optional_int(raw.get("QuitScene")),
            mem_change_cnt=_optional_int(raw.get("MemChangeCnt")),
            mem_change_list=_member_list(root.find("MemChangeList")),
            last_mem_ver=raw.get("LastMemVer", ""),
            cur_mem_ver=raw.get("CurMemVer", ""),
        )


@dataclass(frozen=True, kw_only=True)
class ExternalTagEvent(WeComEvent):
    """change_external_tag: a corp tag or tag group was created, updated, deleted, or a group was reordered."""

    TAG: ClassVar[str] = "external_tag"
    CHANGE_TYPES: ClassVar[frozenset[str]] = frozenset({"create", "update", "delete", "shuffle"})

    tag_id: str
    tag_type: str = ""
    strategy_id: int | None = None

    def _identity(self) -> tuple[str, ...]:
        return ("", self.tag_id, self.tag_type, "" if self.strategy_id is None else str(self.strategy_id))

    @classmethod
    def parse(cls, common: dict[str, Any], raw: Mapping[str, str]) -> ExternalTagEvent:
        return cls(
            **common,
            tag_id=raw.get("Id", ""),
            tag_type=raw.get("TagType", ""),
            strategy_id=_optional_int(raw.get("StrategyId")),
        )


@dataclass(frozen=True, kw_only=True)
class ContactEvent(WeComEvent):
    """change_contact: a member or department of the corp's address book changed (e.g. an employee left)."""

    TAG: ClassVar[str] = "contact"
    CHANGE_TYPES: ClassVar[frozenset[str]] = frozenset(
        {"create_user", "update_user", "delete_user", "create_party", "update_party", "delete_party"}
    )
    _TYPED: ClassVar[frozenset[str]] = frozenset(
        {"ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "ChangeType"}
        | {"UserID", "NewUserID", "Id", "Name", "Department", "MainDepartment", "ParentId", "Status"}
    )

    user_id: str = ""
    new_user_id: str = ""
    party_id: str = ""
    name: str = ""
    departments: tuple[int, ...] = ()
    main_department: int | None = None
    parent_id: str = ""
    status: int | None = None
    profile: dict[str, str] = field(default_factory=dict, repr=False)

    def _identity(self) -> tuple[str, ...]:
        return (self.user_id, self.party_id, self.new_user_id)

    @classmethod
    def parse(cls, common: dict[str, Any], raw: Mapping[str, str]) -> ContactEvent:
        departments = raw.get("Department", "")
        return cls(
            **common,
            user_id=raw.get("UserID", ""),
            new_user_id=raw.get("NewUserID", ""),
            party_id=raw.get("Id", ""),
            name=raw.get("Name", ""),
            departments=tuple(int(d) for d in departments.split(",") if d.strip()),
            main_department=_optional_int(raw.get("MainDepartment")),
            parent_id=raw.get("ParentId", ""),
            status=_optional_int(raw.get("Status")),
            profile={k: v for k, v in raw.items() if k not in cls._TYPED},
        )


@dataclass(frozen=True, kw_only=True)
class CustomerAcquisitionEvent(WeComEvent):
    """customer_acquisition: the acquisition quota changed, a link stopped working or was deleted in the admin
    console, or a customer who came through a link started the chat (D97299)."""

    TAG: ClassVar[str] = "customer_acquisition"
    CHANGE_TYPES: ClassVar[frozenset[str]] = frozenset(
        {
            "balance_low",
            "balance_exhausted",
            "balance_increased",
            "quota_expire_soon",
            "link_unavailable",
            "delete_link",
            "customer_start_chat",
        }
    )

    link_id: str = ""
    user_id: str = ""
    external_user_id: str = ""

    def _identity(self) -> tuple[str, ...]:
        return (self.link_id, self.user_id, self.external_user_id)

    @classmethod
    def parse(cls, common: dict[str, Any], raw: Mapping[str, str]) -> CustomerAcquisitionEvent:
        return cls(
            **common,
            link_id=raw.get("LinkId", ""),
            user_id=raw.get("UserID", ""),
            external_user_id=raw.get("ExternalUserID", ""),
        )


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(WeComEvent):
    """Any other message or event, with every top-level field as text (nested elements as their XML)."""

    TAG: ClassVar[str] = "unknown"

    fields: dict[str, str] = field(default_factory=dict, repr=False)

    def _identity(self) -> tuple[str, ...]:
        canonical = "\x1f".join(f"{k}={v}" for k, v in sorted(self.fields.items()))
        return (self.fields.get("UserID", ""), hashlib.sha256(canonical.encode()).hexdigest()[:16])


def parse_event(xml: str | bytes) -> WeComEvent:
    """The typed event in a decrypted callback; unsafe or broken XML, or no corp or CreateTime, is MalformedXml."""
    root = parse_xml(xml)
    raw = {child.tag: _text_of(child) for child in root}
    corp_id = raw.get("ToUserName", "")
    try:
        create_time = int(raw.get("CreateTime", ""))
    except ValueError:
        raise MalformedXml("event without a numeric CreateTime") from None
    if not corp_id:
        raise MalformedXml("event without ToUserName")
    common: dict[str, Any] = {
        "corp_id": corp_id,
        "create_time": create_time,
        "event": raw.get("Event", ""),
        "change_type": raw.get("ChangeType", ""),
    }
    if raw.get("MsgType") == "event":
        try:
            known = _parse_known(common, raw, root)
        except ValueError:
            known = None
        if known is not None:
            return known
    return UnknownEvent(**common, fields=raw)


def _parse_known(common: dict[str, Any], raw: Mapping[str, str], root: Element) -> WeComEvent | None:
    event, change_type = common["event"], common["change_type"]
    if event == CHANGE_EXTERNAL_CONTACT and change_type in ExternalContactEvent.CHANGE_TYPES:
        return ExternalContactEvent.parse(common, raw)
    if event == CHANGE_EXTERNAL_CHAT and change_type in ExternalChatEvent.CHANGE_TYPES:
        return ExternalChatEvent.parse(common, raw, root)
    if event == CHANGE_EXTERNAL_TAG and change_type in ExternalTagEvent.CHANGE_TYPES:
        return ExternalTagEvent.parse(common, raw)
    if event == CHANGE_CONTACT and change_type in ContactEvent.CHANGE_TYPES:
        return ContactEvent.parse(common, raw)
    if event == CUSTOMER_ACQUISITION and change_type in CustomerAcquisitionEvent.CHANGE_TYPES:
        return CustomerAcquisitionEvent.parse(common, raw)
    return None


def _text_of(element: Element) -> str:
    if len(element):
        return "".join(tostring(child, encoding="unicode") for child in element).strip()
    return (element.text or "").strip()


def _optional_int(text: str | None) -> int | None:
    return int(text) if text else None


def _member_list(element: Element | None) -> tuple[str, ...]:
    """`<MemChangeList><Item>a</Item>...</MemChangeList>` (official), or `a,b` text as some senders write it."""
    if element is None:
        return ()
    if len(element):
        return tuple((item.text or "").strip() for item in element.iter("Item"))
    return tuple(part.strip() for part in (element.text or "").split(",") if part.strip())


def _to_json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _from_json(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
