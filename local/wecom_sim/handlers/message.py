"""message/send: app messages to employees, with per-member and per-app daily caps whose excess WeCom drops silently;
delivered ones are kept in the corp's inbox (stats) with their real arrival time."""

from __future__ import annotations

import json
import time

from local.wecom_sim import errors
from local.wecom_sim.errors import WeComError

from .common import POST, Call, Route, integer

DUPLICATE_CHECK_DEFAULT_SECONDS = 1800
MSGTYPES = frozenset(
    {"text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown", "miniprogram_notice"}
)


def _split(value: object) -> list[str]:
    return [part for part in str(value or "").split("|") if part]


def _received(userid: str, msgtype: str, body: dict, received_at: float) -> dict:
    """What the member saw, as tests and benches read it back: the card or text and the real arrival time."""
    content = body.get(msgtype) if isinstance(body.get(msgtype), dict) else {}
    shown = {k: content.get(k) for k in ("title", "description", "url", "content") if isinstance(content.get(k), str)}
    return {"userid": userid, "msgtype": msgtype, "received_at": received_at, **shown}


def send(call: Call) -> dict:
    body = call.body
    company = call.company
    if "agentid" not in body:
        raise WeComError(errors.AGENTID_MISSING)
    if integer(body, "agentid") != company.agent_id:
        raise WeComError(errors.INVALID_AGENTID)
    msgtype = body.get("msgtype")
    if msgtype not in MSGTYPES:
        raise WeComError(errors.INVALID_MSGTYPE)
    if msgtype == "text":
        content = (body.get("text") or {}).get("content") if isinstance(body.get("text"), dict) else None
        if not content or not isinstance(content, str):
            raise WeComError(errors.CONTENT_EMPTY)
    users, parties, tags = _split(body.get("touser")), _split(body.get("toparty")), _split(body.get("totag"))
    if not users and not parties and not tags:
        raise WeComError(errors.NO_RECIPIENTS)
    if len(users) > 1000:
        raise WeComError(errors.INVALID_USERID_LIST_SIZE)
    if len(parties) > 100:
        raise WeComError(errors.PARTY_LIST_SIZE)
    if len(tags) > 100:
        raise WeComError(errors.TAG_LIST_SIZE)
    active = company.active_userids()
    recipients: dict[str, None] = {}
    invalid_users = []
    for userid in users:
        if userid == "@all":
            recipients.update(dict.fromkeys(sorted(active)))
        elif userid in active:
            recipients[userid] = None
        else:
            invalid_users.append(userid)
    invalid_parties = []
    for party in parties:
        if not party.isdigit() or int(party) not in company.departments:
            invalid_parties.append(party)
            continue
        members = (e.userid for e in company.employees.values() if e.active and int(party) in e.departments)
        recipients.update(dict.fromkeys(members))
    if not recipients:
        raise WeComError(errors.ALL_RECIPIENTS_INVALID)
    received_at = time.time()
    check = body.get("enable_duplicate_check") == 1
    interval = float(body.get("duplicate_check_interval") or DUPLICATE_CHECK_DEFAULT_SECONDS)
    content = json.dumps(body.get(msgtype), sort_keys=True, ensure_ascii=False)
    for userid in recipients:
        if check and company.app_messages.duplicate(userid, content, call.now, interval):
            call.stats.app_duplicates += 1
        elif company.app_messages.deliver(userid, call.now):
            call.stats.app_delivered += 1
            call.stats.app_inbox.append(_received(userid, msgtype, body, received_at))
        else:
            call.stats.app_dropped += 1
    return {
        "invaliduser": "|".join(invalid_users),
        "invalidparty": "|".join(invalid_parties),
        "invalidtag": "|".join(tags),
        "unlicenseduser": "",
        "msgid": company.rng.getrandbits(48).__format__("x"),
        "response_code": "",
    }


ROUTES = {"message/send": Route(POST, send)}
