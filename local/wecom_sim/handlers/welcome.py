"""send_welcome_msg: a welcome code used once, within 20 seconds of the new-friend event."""

from __future__ import annotations

from local.wecom_sim import errors

from .common import POST, Call, Route, check_content, text
from .media import check_media_ids


def send_welcome_msg(call: Call) -> dict:
    code = text(call.body, "welcome_code", errors.WELCOME_CODE_MISSING)
    text_value, attachments = check_content(call.body)
    check_media_ids(call, attachments)
    issued = call.company.welcome.consume(code, call.now)
    issued.sent = {"text": text_value, "attachments": attachments}
    call.stats.welcome_delays.append(call.now - issued.issued_at)
    return {}


ROUTES = {"externalcontact/send_welcome_msg": Route(POST, send_welcome_msg)}
