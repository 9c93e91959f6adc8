"""Group welcome templates (入群欢迎语素材): group_welcome_template/add, edit, get, del.

At most 100 templates per corp (41055); `text.content` of at most 3,000 bytes (`%NICKNAME%` stands for the new
member's name) plus at most one of image, link, miniprogram, file or video, checked like mass-message attachments.
"""

from __future__ import annotations

from local.wecom_sim import errors, ids
from local.wecom_sim.errors import WeComError

from .common import ATTACHMENT_FIELDS, POST, Call, Route, check_content, text
from .media import check_media_ids

MAX_TEMPLATES = 100
TEXT_MAX_BYTES = 3000


def _content(call: Call) -> dict:
    """The template's text and single attachment from the body, checked."""
    kinds = [kind for kind in ATTACHMENT_FIELDS if kind in call.body]
    if len(kinds) > 1:
        raise WeComError(errors.INVALID_PARAMETER, "at most one of image, link, miniprogram, file, video")
    attachments = [{"msgtype": kind, kind: call.body[kind]} for kind in kinds]
    text_value, checked = check_content({"text": call.body.get("text"), "attachments": attachments}, TEXT_MAX_BYTES)
    check_media_ids(call, checked)
    content: dict = {"text": text_value} if text_value else {}
    for attachment in checked:
        content[attachment["msgtype"]] = attachment[attachment["msgtype"]]
    return content


def add_template(call: Call) -> dict:
    templates = call.company.group_welcome_templates
    if len(templates) >= MAX_TEMPLATES:
        raise WeComError(errors.GROUP_WELCOME_TEMPLATE_LIMIT)
    template_id = "msg" + ids.token(call.company.rng, 24)
    templates[template_id] = _content(call)
    return {"template_id": template_id}


def _template_id(call: Call) -> str:
    template_id = text(call.body, "template_id")
    if template_id not in call.company.group_welcome_templates:
        raise WeComError(errors.INVALID_PARAMETER, "invalid template_id")
    return template_id


def edit_template(call: Call) -> dict:
    template_id = _template_id(call)
    call.company.group_welcome_templates[template_id] = _content(call)
    return {}


def get_template(call: Call) -> dict:
    return dict(call.company.group_welcome_templates[_template_id(call)])


def del_template(call: Call) -> dict:
    del call.company.group_welcome_templates[_template_id(call)]
    return {}


ROUTES = {
    "externalcontact/group_welcome_template/add": Route(POST, add_template),
    "externalcontact/group_welcome_template/edit": Route(POST, edit_template),
    "externalcontact/group_welcome_template/get": Route(POST, get_template),
    "externalcontact/group_welcome_template/del": Route(POST, del_template),
}
