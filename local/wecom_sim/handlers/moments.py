"""Customer moments (D95094, D93333, D97612): add_moment_task, get_moment_task_result, get_moment_task,
get_moment_customer_list, get_moment_send_result, get_moment_comments, cancel_moment_task."""

from __future__ import annotations

from local.wecom_sim import errors
from local.wecom_sim.errors import WeComError
from local.wecom_sim.moments import MomentTask

from .common import ATTACHMENT_FIELDS, GET, POST, Call, Route, page, page_limit, string_list, text

MAX_TEXT_CHARS = 2000
MAX_IMAGES = 9
MAX_VISIBLE_USERS = 100_000
MOMENT_TYPES = ("image", "video", "link")


def _content(call: Call) -> tuple[dict | None, list]:
    """Text ≤ 2,000 characters; up to 9 images, or 1 video, or 1 link; images and videos from upload_attachment."""
    body = call.body
    text_value = body.get("text")
    content = ""
    if text_value is not None:
        if not isinstance(text_value, dict) or not isinstance(text_value.get("content", ""), str):
            raise WeComError(errors.INVALID_PARAMETER, "text.content must be a string")
        content = text_value.get("content", "")
        if len(content) > MAX_TEXT_CHARS:
            raise WeComError(errors.INVALID_PARAMETER, f"text.content over {MAX_TEXT_CHARS} characters")
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list):
        raise WeComError(errors.INVALID_PARAMETER, "attachments must be a list")
    kinds = []
    for attachment in attachments:
        msgtype = attachment.get("msgtype") if isinstance(attachment, dict) else None
        if msgtype not in MOMENT_TYPES:
            raise WeComError(errors.ATTACHMENT_TYPE_INVALID)
        payload = attachment.get(msgtype)
        if not isinstance(payload, dict):
            raise WeComError(errors.INVALID_PARAMETER, f"{msgtype} missing")
        if msgtype == "link":
            for alternatives in ATTACHMENT_FIELDS["link"]:
                if not payload.get(alternatives[0]):
                    raise WeComError(errors.INVALID_PARAMETER, f"link.{alternatives[0]} missing")
        else:
            media_id = payload.get("media_id")
            call.company.media.check(media_id or "", call.now)
            if media_id not in call.company.media.moment_attachments:
                raise WeComError(errors.INVALID_MEDIA_ID, "moments take media from upload_attachment only")
        kinds.append(msgtype)
    if kinds and not ((set(kinds) == {"image"} and len(kinds) <= MAX_IMAGES) or (kinds in (["video"], ["link"]))):
        raise WeComError(errors.ATTACHMENT_LIMIT, "up to 9 images, or 1 video, or 1 link")
    if not content and not attachments:
        raise WeComError(errors.INVALID_PARAMETER, "text and attachments are both empty")
    return (text_value if content else None), attachments


def add_moment_task(call: Call) -> dict:
    company = call.company
    text_value, attachments = _content(call)
    visible = call.body.get("visible_range") or {}
    if not isinstance(visible, dict):
        raise WeComError(errors.INVALID_PARAMETER, "visible_range must be an object")
    senders = visible.get("sender_list") or {}
    contacts = visible.get("external_contact_list") or {}
    if not isinstance(senders, dict) or not isinstance(contacts, dict):
        raise WeComError(errors.INVALID_PARAMETER, "sender_list and external_contact_list must be objects")
    users = string_list(senders, "user_list", MAX_VISIBLE_USERS)
    departments = senders.get("department_list") or []
    if not isinstance(departments, list) or not all(isinstance(d, int) for d in departments):
        raise WeComError(errors.INVALID_PARAMETER, "department_list must be a list of department ids")
    tags = string_list(contacts, "tag_list", 10_000)
    company.moments.admit(call.now)
    contactable = {u for u, e in company.employees.items() if e.active and e.customer_contact}
    chosen = {u for u in users if u in contactable}
    chosen |= {u for u in contactable for d in departments if d in company.employees[u].departments}
    if not users and not departments:
        chosen = contactable
    known_tags = [t for t in tags if t in company.tags.tags]
    reached = {}
    for userid in sorted(chosen):
        follows = [f for f in company.book.follows_of_user(userid) if not f.deleted_by_customer]
        if known_tags:
            follows = [f for f in follows if set(known_tags) & set(f.tag_ids)]
        reached[userid] = [f.external_userid for f in follows]
    invalid = (
        [u for u in users if u not in contactable],
        [d for d in departments if d not in company.departments],
        [t for t in tags if t not in company.tags.tags],
    )
    task = company.moments.create(call.now, text_value, attachments, reached, invalid)
    return {"jobid": task.jobid}


def get_moment_task_result(call: Call) -> dict:
    task = call.company.moments.by_job.get(text(call.query, "jobid"))
    if task is None:
        raise WeComError(errors.INVALID_PARAMETER, "invalid jobid")
    if call.now < task.done_at:
        return {"status": 2, "type": "add_moment_task", "result": {}}
    return {
        "status": 3,
        "type": "add_moment_task",
        "result": {
            "errcode": 0,
            "errmsg": "ok",
            "moment_id": task.moment_id,
            "invalid_sender_list": {"user_list": task.invalid_users, "department_list": task.invalid_departments},
            "invalid_external_contact_list": {"tag_list": task.invalid_tags},
        },
    }


def _task(call: Call) -> MomentTask:
    task = call.company.moments.by_moment.get(text(call.body, "moment_id"))
    if task is None:
        raise WeComError(errors.INVALID_PARAMETER, "invalid moment_id")
    if call.now < task.done_at:
        raise WeComError(errors.MOMENT_DISPATCHING)
    return task


def _sender(call: Call, task: MomentTask) -> str:
    userid = text(call.body, "userid", errors.USERID_MISSING)
    if userid not in task.publish_at:
        raise WeComError(errors.INVALID_USERID)
    return userid


def get_moment_task(call: Call) -> dict:
    task = _task(call)
    limit = page_limit(call.body, 500, 1000)
    chunk, cursor = page(list(task.publish_at), str(call.body.get("cursor", "")), limit)
    return {
        "task_list": [{"userid": u, "publish_status": int(task.published(u, call.now))} for u in chunk],
        "next_cursor": cursor,
    }


def get_moment_customer_list(call: Call) -> dict:
    task = _task(call)
    userid = _sender(call, task)
    limit = page_limit(call.body, 500, 1000)
    chunk, cursor = page(task.reached[userid], str(call.body.get("cursor", "")), limit)
    return {"customer_list": [{"userid": userid, "external_userid": c} for c in chunk], "next_cursor": cursor}


def get_moment_send_result(call: Call) -> dict:
    task = _task(call)
    userid = _sender(call, task)
    if not task.published(userid, call.now):
        raise WeComError(errors.MOMENT_NOT_PUBLISHED)
    limit = page_limit(call.body, 3000, 5000)
    chunk, cursor = page(task.reached[userid], str(call.body.get("cursor", "")), limit)
    return {"customer_list": [{"external_userid": c} for c in chunk], "next_cursor": cursor}


def get_moment_comments(call: Call) -> dict:
    task = _task(call)
    userid = _sender(call, task)
    if not task.published(userid, call.now):
        raise WeComError(errors.MOMENT_NOT_PUBLISHED)

    def view(reactions: list) -> list[dict]:
        key = {True: "external_userid", False: "userid"}
        return [
            {key[r.by_customer]: r.who, "create_time": r.create_time} for r in reactions if r.create_time <= call.now
        ]

    return {"comment_list": view(task.comments.get(userid, [])), "like_list": view(task.likes.get(userid, []))}


def cancel_moment_task(call: Call) -> dict:
    task = _task(call)
    if task.cancelled_at is None:
        task.cancelled_at = call.now
    return {}


ROUTES = {
    "externalcontact/add_moment_task": Route(POST, add_moment_task),
    "externalcontact/get_moment_task_result": Route(GET, get_moment_task_result),
    "externalcontact/get_moment_task": Route(POST, get_moment_task),
    "externalcontact/get_moment_customer_list": Route(POST, get_moment_customer_list),
    "externalcontact/get_moment_send_result": Route(POST, get_moment_send_result),
    "externalcontact/get_moment_comments": Route(POST, get_moment_comments),
    "externalcontact/cancel_moment_task": Route(POST, cancel_moment_task),
}
