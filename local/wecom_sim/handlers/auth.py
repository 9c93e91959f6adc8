"""auth/getuserinfo: the person behind a web OAuth code of the corp (single use): a member's userid, else an openid."""

from __future__ import annotations

from local.wecom_sim import errors
from local.wecom_sim.errors import WeComError

from .common import GET, Call, Route, text


def getuserinfo(call: Call) -> dict:
    login = call.company.member_logins.redeem(text(call.query, "code", errors.OAUTH_CODE_MISSING), call.now)
    if login is None:
        raise WeComError(errors.INVALID_OAUTH_CODE)
    if login.userid:
        return {"userid": login.userid}
    return {"openid": login.openid}


ROUTES = {"auth/getuserinfo": Route(GET, getuserinfo)}
