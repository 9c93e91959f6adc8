"""Temporary media (media/upload): a media id per upload, valid 3 simulated days, checked where messages use one."""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import errors, ids
from .errors import WeComError

MEDIA_TTL_SECONDS = 3 * 86_400
MIN_BYTES = 6
MAX_BYTES = {"image": 10 * 1024 * 1024, "voice": 2 * 1024 * 1024, "video": 10 * 1024 * 1024, "file": 20 * 1024 * 1024}
SIZE_ERRORS = {
    "image": errors.INVALID_IMAGE_SIZE,
    "voice": errors.INVALID_VOICE_SIZE,
    "video": errors.INVALID_VIDEO_SIZE,
    "file": errors.INVALID_FILE_SIZE,
}


@dataclass(frozen=True, slots=True)
class Media:
    """An uploaded file: its kind, name, size and when it was uploaded (its bytes are not kept)."""

    media_id: str
    type: str
    filename: str
    size: int
    created_at: float


def _format_ok(kind: str, data: bytes) -> bool:
    if kind == "image":
        return data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"))
    if kind == "video":
        return data[4:8] == b"ftyp"
    if kind == "voice":
        return data.startswith(b"#!AMR")
    return True


class MediaStore:
    """Temporary media of one corp."""

    def __init__(self, rng: random.Random | None = None, ttl: float = MEDIA_TTL_SECONDS) -> None:
        self._rng = rng or random.Random()
        self._ttl = ttl
        self.items: dict[str, Media] = {}
        self.moment_attachments: set[str] = set()
        """Media ids from ``media/upload_attachment`` with attachment_type 1: the only ones moments accept."""

    def upload(self, kind: str, filename: str, data: bytes, now: float) -> Media:
        """Store an upload: 40004 unknown type, 44001 empty, 40009/40010/40011/40006 too small or big, 40005 format."""
        if kind not in MAX_BYTES:
            raise WeComError(errors.INVALID_MEDIA_TYPE, "type must be image, voice, video or file")
        if not data:
            raise WeComError(errors.EMPTY_MEDIA)
        if not MIN_BYTES <= len(data) <= MAX_BYTES[kind]:
            raise WeComError(SIZE_ERRORS[kind], f"{kind} must have {MIN_BYTES} to {MAX_BYTES[kind]} bytes")
        if not _format_ok(kind, data):
            raise WeComError(errors.INVALID_FILE_TYPE, f"not a valid {kind} file")
        media = Media("3" + ids.token(self._rng, 63), kind, filename, len(data), now)
        self.items[media.media_id] = media
        return media

    def check(self, media_id: str, now: float) -> Media:
        """A media id usable at ``now``: 40007 when unknown (another corp's, say) or older than 3 days."""
        media = self.items.get(media_id)
        if media is None or now - media.created_at > self._ttl:
            raise WeComError(errors.INVALID_MEDIA_ID)
        return media
