"""What every handler shares: the call context, parameter checks, cursors and message-content validation."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from local.wecom_sim import errors
from local.wecom_sim.company import Company
from local.wecom_sim.errors import WeComError
from local.wecom_sim.server import Request
from local.wecom_sim.stats import CorpStats

GET, POST = "GET", "POST"
MAX_TEXT_BYTES = 4000
MAX_ATTACHMENTS = 9
ATTACHMENT_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "image": (("media_id", "pic_url"),),
    "link": (("title",), ("url",)),
    "miniprogram": (("title",), ("pic_media_id",), ("appid",), ("page",)),
    "video": (("media_id",),),
    "file": (("media_id",),),
}


@dataclass(slots=True)
class Call:
    """One API call: the company the token belongs to, query values, JSON body, simulated time, counters."""

    company: Company
    query: dict[str, str]
    body: dict[str, Any]
    now: float
    stats: CorpStats


@dataclass(frozen=True, slots=True)
class Route:
    """An API: its method, its handler, and how to read its body when it is not JSON (e.g. a multipart upload)."""

    method: str
    handler: Callable[[Call], dict]
    parse: Callable[[Request], dict] | None = None


def text(body: dict, key: str, missing: int = errors.INVALID_PARAMETER, required: bool = True) -> str:
    """A string parameter; ``missing`` is the errcode when it is required and absent."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise WeComError(missing, f"{key} missing")
        return ""
    if not isinstance(value, str):
        raise WeComError(errors.INVALID_PARAMETER, f"{key} must be a string")
    return value


def integer(body: dict, key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if value is None:
        raise WeComError(errors.INVALID_PARAMETER, f"{key} missing")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise WeComError(errors.INVALID_PARAMETER, f"{key} must be an integer")
    try:
        return int(value)
    except ValueError as exc:
        raise WeComError(errors.INVALID_PARAMETER, f"{key} must be an integer") from exc


def string_list(body: dict, key: str, maximum: int, too_many: int = errors.INVALID_PARAMETER) -> list[str]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WeComError(errors.INVALID_PARAMETER, f"{key} must be a list of strings")
    if len(value) > maximum:
        raise WeComError(too_many, f"{key} has more than {maximum} items")
    return value


def max_chars(value: str, limit: int, name: str) -> None:
    if len(value) > limit:
        raise WeComError(errors.INVALID_PARAMETER, f"{name} longer than {limit} characters")


def page_limit(body: dict, default: int, maximum: int, clamp: bool = False) -> int:
    """Page size: WeCom rejects sizes over the maximum (40058), except APIs documented to clamp them."""
    limit = integer(body, "limit", default)
    if limit <= 0:
        raise WeComError(errors.INVALID_PARAMETER, "limit must be positive")
    if limit > maximum:
        if clamp:
            return maximum
        raise WeComError(errors.INVALID_PARAMETER, f"limit over {maximum}")
    return limit


def page(items: Sequence, cursor: str, limit: int) -> tuple[list, str]:
    """One page of ``items`` after an opaque cursor, and the next cursor ("" at the end)."""
    start = decode_cursor(cursor)
    chunk = list(items[start : start + limit])
    following = start + len(chunk)
    return chunk, encode_cursor(following) if following < len(items) else ""


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("o"):
            raise ValueError(cursor)
        return int(raw[1:])
    except ValueError as exc:
        raise WeComError(errors.INVALID_PARAMETER, "invalid cursor") from exc


def check_content(body: dict, max_text_bytes: int = MAX_TEXT_BYTES) -> tuple[dict | None, list]:
    """Validate ``text`` and ``attachments`` as WeCom does for mass and welcome messages."""
    text_value = body.get("text")
    content = ""
    if text_value is not None:
        if not isinstance(text_value, dict) or not isinstance(text_value.get("content", ""), str):
            raise WeComError(errors.INVALID_PARAMETER, "text.content must be a string")
        content = text_value.get("content", "")
        if len(content.encode()) > max_text_bytes:
            raise WeComError(errors.INVALID_PARAMETER, f"text.content over {max_text_bytes} bytes")
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list):
        raise WeComError(errors.INVALID_PARAMETER, "attachments must be a list")
    if len(attachments) > MAX_ATTACHMENTS:
        raise WeComError(errors.ATTACHMENT_LIMIT, f"at most {MAX_ATTACHMENTS} attachments")
    for attachment in attachments:
        msgtype = attachment.get("msgtype") if isinstance(attachment, dict) else None
        if msgtype not in ATTACHMENT_FIELDS:
            raise WeComError(errors.ATTACHMENT_TYPE_INVALID)
        payload = attachment.get(msgtype)
        if not isinstance(payload, dict):
            raise WeComError(errors.INVALID_PARAMETER, f"{msgtype} missing")
        for alternatives in ATTACHMENT_FIELDS[msgtype]:
            if not any(payload.get(name) for name in alternatives):
                raise WeComError(errors.INVALID_PARAMETER, f"{msgtype}.{alternatives[0]} missing")
    if not content and not attachments:
        raise WeComError(errors.INVALID_PARAMETER, "text and attachments are both empty")
    return (text_value if content else None), attachments
