"""The content of a mass message, checked against add_msg_template's limits before anything is planned.

Limits (WeCom path/92135, WECOM.md §4): `text.content` at most 4000 bytes (UTF-8); at most 9 attachments, each one of
image{media_id | pic_url}, link{title, picurl, desc, url}, miniprogram{title, pic_media_id, appid, page},
video{media_id}, file{media_id}; a message needs text or an attachment; `chat_type` is single (to customers) or
group (to customer groups, which needs `sender`). Per-field byte limits of link and miniprogram follow WeCom's
attachment documentation (link title 128, desc 512, url 2048 bytes; miniprogram title 64 bytes, page ending in .html).
Every problem names the field, e.g. `attachments[2].link.url: required`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.wecom_limits import ATTACHMENTS_MAX, TEXT_MAX_BYTES

CHAT_TYPES = ("single", "group")

_ATTACHMENT_FIELDS: dict[str, dict[str, int]] = {
    "image": {"media_id": 256, "pic_url": 2048},
    "link": {"title": 128, "picurl": 2048, "desc": 512, "url": 2048},
    "miniprogram": {"title": 64, "pic_media_id": 256, "appid": 64, "page": 2048},
    "video": {"media_id": 256},
    "file": {"media_id": 256},
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "link": ("title", "url"),
    "miniprogram": ("title", "pic_media_id", "appid", "page"),
    "video": ("media_id",),
    "file": ("media_id",),
}


class InvalidContent(ValueError):
    """Content WeCom would reject; `problems` lists every field at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class BroadcastContent:
    """Validated content: the parts of an add_msg_template request that do not depend on the recipients."""

    chat_type: str
    text: str
    attachments: tuple[Mapping[str, Any], ...]
    sender: str = ""

    def request_body(self, external_userids: list[str] | None = None, sender: str | None = None) -> dict[str, Any]:
        """The add_msg_template body for one batch (recipients and sender filled in by the dispatcher)."""
        body: dict[str, Any] = {"chat_type": self.chat_type}
        if self.text:
            body["text"] = {"content": self.text}
        if self.attachments:
            body["attachments"] = [dict(a) for a in self.attachments]
        if sender or self.sender:
            body["sender"] = sender or self.sender
        if external_userids is not None:
            body["external_userid"] = list(external_userids)
        return body


def _check_attachment(index: int, attachment: Any, problems: list[str]) -> dict[str, Any] | None:
    where = f"attachments[{index}]"
    if not isinstance(attachment, Mapping):
        problems.append(f"{where}: must be an object")
        return None
    msgtype = attachment.get("msgtype")
    if msgtype not in _ATTACHMENT_FIELDS:
        problems.append(f"{where}.msgtype: must be one of {', '.join(_ATTACHMENT_FIELDS)}")
        return None
    body = attachment.get(msgtype)
    if not isinstance(body, Mapping):
        problems.append(f"{where}.{msgtype}: must be an object")
        return None
    limits = _ATTACHMENT_FIELDS[msgtype]
    for name in sorted(set(body) - set(limits)):
        problems.append(f"{where}.{msgtype}.{name}: unknown field")
    for name, max_bytes in limits.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{msgtype}.{name}: must be a non-empty string")
        elif len(value.encode()) > max_bytes:
            problems.append(f"{where}.{msgtype}.{name}: longer than {max_bytes} bytes")
    for name in _REQUIRED.get(msgtype, ()):
        if body.get(name) is None:
            problems.append(f"{where}.{msgtype}.{name}: required")
    if msgtype == "image" and ("media_id" in body) == ("pic_url" in body):
        problems.append(f"{where}.image: give exactly one of media_id or pic_url")
    if msgtype == "miniprogram" and isinstance(body.get("page"), str) and ".html" not in body["page"]:
        problems.append(f"{where}.miniprogram.page: must end in .html (query string allowed after it)")
    return {"msgtype": msgtype, msgtype: {k: v for k, v in body.items() if k in limits}}


def validate_content(payload: Mapping[str, Any]) -> BroadcastContent:
    """Check the admin's content (`chat_type`, `text.content`, `attachments`, `sender`); raise `InvalidContent`."""
    problems: list[str] = []
    chat_type = payload.get("chat_type", "single")
    if chat_type not in CHAT_TYPES:
        problems.append(f"chat_type: must be one of {', '.join(CHAT_TYPES)}")
    sender = payload.get("sender") or ""
    if not isinstance(sender, str):
        problems.append("sender: must be a userid string")
        sender = ""
    if chat_type == "group" and not sender:
        problems.append("sender: required when chat_type is group")
    text_obj = payload.get("text") or {}
    text = text_obj.get("content", "") if isinstance(text_obj, Mapping) else None
    if not isinstance(text, str):
        problems.append("text.content: must be a string")
        text = ""
    elif len(text.encode()) > TEXT_MAX_BYTES:
        problems.append(f"text.content: {len(text.encode())} bytes, at most {TEXT_MAX_BYTES}")
    raw_attachments = payload.get("attachments") or []
    attachments: list[dict[str, Any]] = []
    if not isinstance(raw_attachments, list):
        problems.append("attachments: must be a list")
    else:
        if len(raw_attachments) > ATTACHMENTS_MAX:
            problems.append(f"attachments: {len(raw_attachments)} given, at most {ATTACHMENTS_MAX}")
        for index, raw in enumerate(raw_attachments):
            checked = _check_attachment(index, raw, problems)
            if checked:
                attachments.append(checked)
    if not text.strip() and not raw_attachments:
        problems.append("text.content: required when there are no attachments")
    if problems:
        raise InvalidContent(problems)
    return BroadcastContent(chat_type, text, tuple(attachments), sender)
