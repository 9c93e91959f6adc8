"""The material library's rules on plain data: what a material may hold, which bytes WeCom takes, when to re-upload.

A material is one attachment kind of WeCom's mass and welcome messages (WECOM.md §4, path/92135 and path/92599):
`link` {title, url, desc, picurl} needs no upload; `image`, `video` and `file` are bytes uploaded as temporary media;
`miniprogram` {title, appid, page} carries a cover image uploaded as temporary media (`pic_media_id`). An `article`
{title, body, picurl} is the tenant's own rich text, shown only on its shared page (sanitised there; no WeCom
attachment of its own: it goes out as its share link). The bytes stay
at the admin's https source URL: they are fetched and checked at creation, and fetched again whenever the media id
must be renewed. A temporary media id lives 3 days (`MEDIA_TTL_SECONDS`): it is renewed once it is older than the TTL
minus `REFRESH_MARGIN_SECONDS`, so an attachment handed out stays valid for at least that margin; if renewing fails,
the old media id is still used while it has `LAST_RESORT_SECONDS` left.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain import wecom_limits as limits
from chalicelib.domain.public_address import host_literal, is_public

IMAGE, LINK, MINIPROGRAM, VIDEO, FILE, ARTICLE = "image", "link", "miniprogram", "video", "file", "article"
TYPES: tuple[str, ...] = (IMAGE, LINK, MINIPROGRAM, VIDEO, FILE, ARTICLE)
UPLOADED_TYPES: tuple[str, ...] = (IMAGE, MINIPROGRAM, VIDEO, FILE)

REFRESH_MARGIN_SECONDS = 12 * 3600
LAST_RESORT_SECONDS = 3600

URL_MAX_BYTES = 2048
LINK_TITLE_MAX_BYTES = 128
MINIPROGRAM_TITLE_MAX_BYTES = 64
TITLE_MAX_CHARS = 64
DESC_MAX_BYTES = 512
APPID_PATTERN = re.compile(r"^wx[0-9a-f]{16}$")
MATERIAL_ID_PATTERN = re.compile(r"^[0-9a-f]{20}$")
"""A material id: 20 hex digits that begin with the creation time in ms."""
PAGE_MAX_BYTES = 2048
FILENAME_MAX_CHARS = 128
ARTICLE_MAX_BYTES = 60_000

MAX_BYTES: dict[str, int] = {
    IMAGE: limits.MEDIA_IMAGE_MAX_BYTES,
    VIDEO: limits.MEDIA_VIDEO_MAX_BYTES,
    FILE: limits.MEDIA_FILE_MAX_BYTES,
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


class SourceUnavailable(Exception):
    """The material's source URL could not be fetched (status, redirect, timeout, size)."""


class InvalidMaterial(ValueError):
    """A material WeCom would reject or we cannot serve; `problems` names every field at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class MaterialSpec:
    """What an admin describes: the kind, a title, and the kind's own fields."""

    type: str
    title: str
    desc: str | None = None
    url: str | None = None
    picurl: str | None = None
    source_url: str | None = None
    appid: str | None = None
    page: str | None = None
    body: str | None = None


def _utf8(text: str) -> int:
    return len(text.encode("utf-8"))


def https_url_problem(url: str) -> str | None:
    """Why `url` cannot be used (https only, bounded length, a host that is not local by its name or its literal
    address in any numeric form), or None. A name's addresses are checked when it is fetched (`public_fetch`)."""
    if _utf8(url) > URL_MAX_BYTES:
        return f"longer than {URL_MAX_BYTES} bytes"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "not a valid URL"
    if parts.scheme != "https":
        return "must be an https URL"
    if not host or not url.isprintable() or any(c.isspace() for c in url):
        return "must be an https URL with a host and no spaces or control characters"
    if parts.username or parts.password:
        return "may not carry credentials"
    name = host.rstrip(".")
    if name in ("", "localhost") or name.endswith((".localhost", ".internal", ".local")):
        return "must name a public host"
    try:
        address = host_literal(host)
    except ValueError:
        return "must name a public host"
    if address is not None and not is_public(address):
        return "must name a public host"
    return None


def validate_spec(spec: MaterialSpec) -> MaterialSpec:
    """Check a new material's fields for its kind; raise `InvalidMaterial` naming every problem."""
    problems: list[str] = []
    if spec.type not in TYPES:
        raise InvalidMaterial([f"type: must be one of {', '.join(TYPES)}"])
    problems.extend(_title_problems(spec.type, spec.title))
    if spec.desc is not None and _utf8(spec.desc) > DESC_MAX_BYTES:
        problems.append(f"desc: longer than {DESC_MAX_BYTES} bytes")
    allowed = {"type", "title", "desc"} | {
        LINK: {"url", "picurl"},
        MINIPROGRAM: {"source_url", "appid", "page"},
        ARTICLE: {"body", "picurl"},
    }.get(spec.type, {"source_url"})
    for name in ("url", "picurl", "source_url", "appid", "page", "body"):
        if getattr(spec, name) is not None and name not in allowed:
            problems.append(f"{name}: not used by a {spec.type} material")
    required = {LINK: ("url",), MINIPROGRAM: ("source_url", "appid", "page"), ARTICLE: ("body",)}.get(
        spec.type, ("source_url",)
    )
    for name in required:
        if not getattr(spec, name):
            problems.append(f"{name}: required for a {spec.type} material")
    for name in ("url", "picurl", "source_url"):
        value = getattr(spec, name)
        if value and name in allowed:
            problem = https_url_problem(value)
            if problem:
                problems.append(f"{name}: {problem}")
    if spec.type == ARTICLE and spec.body and _utf8(spec.body) > ARTICLE_MAX_BYTES:
        problems.append(f"body: longer than {ARTICLE_MAX_BYTES} bytes")
    if spec.type == MINIPROGRAM:
        if spec.appid and not APPID_PATTERN.fullmatch(spec.appid):
            problems.append("appid: must be a mini-program appid (wx + 16 hex digits)")
        if spec.page and (".html" not in spec.page or _utf8(spec.page) > PAGE_MAX_BYTES):
            problems.append(f"page: must contain .html and be at most {PAGE_MAX_BYTES} bytes")
    if problems:
        raise InvalidMaterial(problems)
    return spec


def _title_problems(kind: str, title: str) -> list[str]:
    if not title.strip():
        return ["title: required"]
    if kind == LINK and _utf8(title) > LINK_TITLE_MAX_BYTES:
        return [f"title: longer than {LINK_TITLE_MAX_BYTES} bytes (WeCom's link title limit)"]
    if kind == MINIPROGRAM and _utf8(title) > MINIPROGRAM_TITLE_MAX_BYTES:
        return [f"title: longer than {MINIPROGRAM_TITLE_MAX_BYTES} bytes (WeCom's mini-program title limit)"]
    if len(title) > TITLE_MAX_CHARS:
        return [f"title: longer than {TITLE_MAX_CHARS} characters"]
    return []


def validate_edit(kind: str, title: str | None, desc: str | None) -> None:
    """Check an edit of a material's title or description; raise `InvalidMaterial`."""
    problems = _title_problems(kind, title) if title is not None else []
    if desc is not None and _utf8(desc) > DESC_MAX_BYTES:
        problems.append(f"desc: longer than {DESC_MAX_BYTES} bytes")
    if title is None and desc is None:
        problems.append("give title or desc")
    if problems:
        raise InvalidMaterial(problems)


def media_type(kind: str) -> str:
    """The `type` of media/upload for a material kind (a mini-program's cover is an image)."""
    return IMAGE if kind == MINIPROGRAM else kind


@dataclass(frozen=True)
class CheckedMedia:
    """Bytes WeCom will take as temporary media of `media_type`, with the name and content type to upload them as."""

    media_type: str
    filename: str
    content_type: str
    size: int


def check_media(kind: str, data: bytes, filename: str) -> CheckedMedia:
    """Size and format rules of media/upload for `kind`'s bytes; raise `InvalidMaterial`."""
    upload_as = media_type(kind)
    if len(data) < limits.MEDIA_MIN_BYTES:
        raise InvalidMaterial([f"source_url: {len(data)} bytes; WeCom needs more than {limits.MEDIA_MIN_BYTES - 1}"])
    if len(data) > MAX_BYTES[upload_as]:
        raise InvalidMaterial([f"source_url: {len(data)} bytes, over the {upload_as} limit of {MAX_BYTES[upload_as]}"])
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", filename.rsplit("/", 1)[-1])[:FILENAME_MAX_CHARS] or upload_as
    if upload_as == IMAGE:
        if data.startswith(PNG_MAGIC):
            return CheckedMedia(IMAGE, _with_suffix(stem, ".png"), "image/png", len(data))
        if data.startswith(JPEG_MAGIC):
            return CheckedMedia(IMAGE, _with_suffix(stem, ".jpg"), "image/jpeg", len(data))
        raise InvalidMaterial(["source_url: an image must be JPG or PNG"])
    if upload_as == VIDEO:
        if data[4:8] != b"ftyp":
            raise InvalidMaterial(["source_url: a video must be MP4"])
        return CheckedMedia(VIDEO, _with_suffix(stem, ".mp4"), "video/mp4", len(data))
    return CheckedMedia(FILE, stem, "application/octet-stream", len(data))


def _with_suffix(stem: str, suffix: str) -> str:
    return (
        stem
        if stem.lower().endswith(suffix) or (suffix == ".jpg" and stem.lower().endswith(".jpeg"))
        else stem + suffix
    )


def needs_upload(uploaded_at: float | None, now: float) -> bool:
    """Whether a media id uploaded at `uploaded_at` must be renewed before it is handed out at `now`."""
    return uploaded_at is None or now >= uploaded_at + limits.MEDIA_TTL_SECONDS - REFRESH_MARGIN_SECONDS


def usable_as_last_resort(uploaded_at: float | None, now: float) -> bool:
    """Whether a media id that could not be renewed is still worth sending (valid for `LAST_RESORT_SECONDS` more)."""
    return uploaded_at is not None and now < uploaded_at + limits.MEDIA_TTL_SECONDS - LAST_RESORT_SECONDS


def attachment(kind: str, fields: Mapping[str, Any], media_id: str | None) -> dict[str, Any]:
    """The WeCom attachment (add_msg_template / send_welcome_msg) for a material of `kind`; an article has none
    (`InvalidMaterial`: it is sent as its share link)."""
    if kind == ARTICLE:
        raise InvalidMaterial(["an article is not a WeCom attachment: send its share link (POST /v1/shares)"])
    if kind == LINK:
        body = {name: fields[name] for name in ("title", "url", "desc", "picurl") if fields.get(name)}
        return {"msgtype": LINK, LINK: body}
    if media_id is None:
        raise ValueError(f"a {kind} material needs its media id")
    if kind == MINIPROGRAM:
        return {
            "msgtype": MINIPROGRAM,
            MINIPROGRAM: {
                "title": fields["title"],
                "pic_media_id": media_id,
                "appid": fields["appid"],
                "page": fields["page"],
            },
        }
    return {"msgtype": kind, kind: {"media_id": media_id}}
