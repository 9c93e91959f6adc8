"""media/upload (multipart field ``media``), and the media-id check of messages whose attachments carry one."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP

from local.wecom_sim import errors
from local.wecom_sim.errors import WeComError
from local.wecom_sim.server import Request

from .common import POST, Call, Route

MEDIA_FIELDS = {"image": "media_id", "miniprogram": "pic_media_id", "video": "media_id", "file": "media_id"}


def parse_form(request: Request) -> dict:
    """The multipart form's ``media`` part as {"media": {"filename", "data"}}; 41005 when there is none."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise WeComError(errors.MEDIA_DATA_MISSING, "multipart/form-data required")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body
    )
    for part in message.iter_parts() if message.is_multipart() else ():
        if part.get_param("name", header="content-disposition") == "media":
            return {"media": {"filename": part.get_filename() or "", "data": part.get_payload(decode=True) or b""}}
    raise WeComError(errors.MEDIA_DATA_MISSING, "form field media missing")


def upload(call: Call) -> dict:
    form = call.body["media"]
    kind = call.query.get("type", "")
    media = call.company.media.upload(kind, form["filename"], form["data"], call.now)
    return {"type": media.type, "media_id": media.media_id, "created_at": str(int(media.created_at))}


def upload_attachment(call: Call) -> dict:
    """media/upload_attachment: moments (attachment_type 1) take images and videos only."""
    kind = call.query.get("media_type", "")
    attachment_type = call.query.get("attachment_type", "")
    if attachment_type not in ("1", "2"):
        raise WeComError(errors.INVALID_PARAMETER, "attachment_type must be 1 (moments) or 2 (product album)")
    if attachment_type == "1" and kind not in ("image", "video"):
        raise WeComError(errors.INVALID_MEDIA_TYPE, "moments take image or video")
    form = call.body["media"]
    media = call.company.media.upload(kind, form["filename"], form["data"], call.now)
    if attachment_type == "1":
        call.company.media.moment_attachments.add(media.media_id)
    return {"type": media.type, "media_id": media.media_id, "created_at": int(media.created_at)}


def check_media_ids(call: Call, attachments: list) -> None:
    """40007 unless every media id in ``attachments`` was uploaded by this corp less than 3 days ago."""
    for attachment in attachments:
        msgtype = attachment["msgtype"]
        media_id = attachment[msgtype].get(MEDIA_FIELDS.get(msgtype, ""))
        if media_id:
            call.company.media.check(media_id, call.now)


ROUTES = {
    "media/upload": Route(POST, upload, parse_form),
    "media/upload_attachment": Route(POST, upload_attachment, parse_form),
}
