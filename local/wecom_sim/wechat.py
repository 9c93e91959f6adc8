"""WeChat's side of a shared page's identity: the official account's web OAuth and the mini-program login.

Each simulated company has one official account and one mini-program, bound to the same open-platform account as
its WeCom app, so the unionid WeChat gives for a person is the unionid `externalcontact/get` shows for that customer
(customers without one are not WeChat users here, as a WeCom user or an unbound contact is in life).

Who is using WeChat comes from the browser's user agent: WeChat's in-app browser says `MicroMessenger/…`, and the
simulated person adds `SimWeChatUser/<unionid or any name>`. The OAuth page (`/connect/oauth2/authorize`) redirects
at once with a single-use code (5 minutes), as WeChat does for `snsapi_base` and for a person who accepts the
`snsapi_userinfo` prompt. `sns/oauth2/access_token` gives the openid (per app), and the unionid only for a
`snsapi_userinfo` code or once the person has authorised `snsapi_userinfo` for that account before; `sns/userinfo`
needs a token of the `snsapi_userinfo` scope. A mini-program's code comes from `Simulator.wechat_login_code`
(what `wx.login` returns on a phone) and `sns/jscode2session` always gives the unionid.

The same authorize page serves WeCom's web OAuth when `appid` is a company's corpid (with its app's `agentid`): the
WeCom client's browser says `wxwork/…`, and the simulated member adds `SimWeComMember/<userid>`. An active member of
that company gets a code naming their userid; anyone else (a member of no company here, or a WeChat user) a code
naming an openid only. The codes are the company's (`member_logins`), redeemed by `/cgi-bin/auth/getuserinfo`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from .clock import SimClock
from .company import Company
from .server import Request, Response

CODE_TTL_SECONDS = 300.0
TOKEN_TTL_SECONDS = 7200
BASE, USERINFO = "snsapi_base", "snsapi_userinfo"
USER_PATTERN = re.compile(r"SimWeChatUser/([A-Za-z0-9_-]{1,64})")
MEMBER_PATTERN = re.compile(r"SimWeComMember/([A-Za-z0-9_.@-]{1,64})")
WECOM_CLIENT = "wxwork/"
STRANGER = "stranger"
MEMBER_SCOPES = (BASE, "snsapi_privateinfo")
WECOM_STATE = re.compile(r"[A-Za-z0-9]{0,128}")

INVALID_APPID = 40013
INVALID_SECRET = 40125
INVALID_CODE = 40029
INVALID_TOKEN = 40001
SCOPE_UNAUTHORIZED = 48001


def app_credentials(corpid: str, kind: str) -> tuple[str, str]:
    """The appid and secret of a company's official account ("oa") or mini-program ("mp"), derived from its corpid."""
    digest = hashlib.sha256(f"{corpid}:{kind}".encode()).hexdigest()
    return "wx" + digest[:16], digest[16:48]


def openid(appid: str, person: str) -> str:
    """A person's openid for one app (WeChat's openids differ per app)."""
    return "o" + hashlib.sha256(f"{appid}:{person}".encode()).hexdigest()[:27]


def unionid_of(company: Company, person: str) -> str:
    """A person's unionid under the company's open-platform account: a customer's own, or one nobody stored."""
    if company.book.unionid_known(person):
        return person
    return "o" + hashlib.sha256(f"union:{company.corpid}:{person}".encode()).hexdigest()[:27]


@dataclass
class _Grant:
    appid: str
    person: str
    scope: str
    expires_at: float


def _json(body: dict, status: int = 200) -> Response:
    return Response(status, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def _error(code: int, message: str) -> Response:
    return _json({"errcode": code, "errmsg": message})


class WeChat:
    """Answers /connect/oauth2/authorize and /sns/... for every company of a simulator."""

    def __init__(self, companies: dict[str, Company], clock: SimClock, lock: threading.RLock) -> None:
        self._companies = companies
        self._clock = clock
        self._lock = lock
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, _Grant] = {}
        self._authorised: set[tuple[str, str]] = set()
        self.calls: dict[str, int] = {}

    def handles(self, path: str) -> bool:
        return path == "/connect/oauth2/authorize" or path.startswith("/sns/")

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.calls[request.path] = self.calls.get(request.path, 0) + 1
            if request.path == "/connect/oauth2/authorize":
                return self._authorize(request)
            if request.path == "/sns/oauth2/access_token":
                return self._access_token(request)
            if request.path == "/sns/userinfo":
                return self._userinfo(request)
            if request.path == "/sns/jscode2session":
                return self._jscode2session(request)
            return _json({"errcode": 404, "errmsg": "not found"}, 404)

    def login_code(self, appid: str, person: str) -> str:
        """What `wx.login` gives the mini-program `appid` on the phone of `person`."""
        with self._lock:
            return self._issue(appid, person, "mp")

    def _company(self, appid: str, kind: str) -> Company | None:
        return next((c for c in self._companies.values() if app_credentials(c.corpid, kind)[0] == appid), None)

    def _issue(self, appid: str, person: str, scope: str) -> str:
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Grant(appid, person, scope, self._clock.now() + CODE_TTL_SECONDS)
        return code

    def _redeem(self, request: Request, kind: str, code_name: str) -> tuple[Company, _Grant] | Response:
        appid = request.query.get("appid", "")
        company = self._company(appid, kind)
        if company is None:
            return _error(INVALID_APPID, "invalid appid")
        if request.query.get("secret", "") != app_credentials(company.corpid, kind)[1]:
            return _error(INVALID_SECRET, "invalid appsecret")
        grant = self._codes.pop(request.query.get(code_name, ""), None)
        if grant is None or grant.appid != appid or grant.expires_at < self._clock.now():
            return _error(INVALID_CODE, "invalid code")
        return company, grant

    def _authorize(self, request: Request) -> Response:
        corp = self._companies.get(request.query.get("appid", ""))
        if corp is not None:
            return self._authorize_member(request, corp)
        if "MicroMessenger" not in request.headers.get("user-agent", ""):
            return Response(200, "请在微信客户端打开链接".encode(), "text/html; charset=utf-8")
        appid, scope = request.query.get("appid", ""), request.query.get("scope", "")
        redirect = request.query.get("redirect_uri", "")
        if self._company(appid, "oa") is None or scope not in (BASE, USERINFO):
            return Response(200, "参数错误".encode(), "text/html; charset=utf-8")
        if urlsplit(redirect).scheme not in ("http", "https"):
            return Response(200, "redirect_uri 参数错误".encode(), "text/html; charset=utf-8")
        match = USER_PATTERN.search(request.headers.get("user-agent", ""))
        code = self._issue(appid, match.group(1) if match else STRANGER, scope)
        query = urlencode({"code": code, "state": request.query.get("state", "")})
        separator = "&" if "?" in redirect else "?"
        return Response(302, b"", "text/html; charset=utf-8", headers={"Location": f"{redirect}{separator}{query}"})

    def _authorize_member(self, request: Request, company: Company) -> Response:
        """WeCom's web OAuth for a corp's app: a code naming a member (userid) or anyone else (openid)."""
        agent = request.query.get("agentid", str(company.agent_id))
        state, redirect = request.query.get("state", ""), request.query.get("redirect_uri", "")
        if request.query.get("scope") not in MEMBER_SCOPES or agent != str(company.agent_id):
            return Response(200, "参数错误".encode(), "text/html; charset=utf-8")
        if not WECOM_STATE.fullmatch(state) or urlsplit(redirect).scheme not in ("http", "https"):
            return Response(200, "参数错误".encode(), "text/html; charset=utf-8")
        agent_string = request.headers.get("user-agent", "")
        member = MEMBER_PATTERN.search(agent_string) if WECOM_CLIENT in agent_string else None
        if member is not None and company.active_employee(member.group(1)) is not None:
            code = company.member_logins.issue(member.group(1), "", self._clock.now())
        elif member is not None or "MicroMessenger" in agent_string:
            person = USER_PATTERN.search(agent_string)
            who = member.group(1) if member else person.group(1) if person else STRANGER
            code = company.member_logins.issue("", openid(company.corpid, who), self._clock.now())
        else:
            return Response(200, "请在企业微信客户端打开链接".encode(), "text/html; charset=utf-8")
        query = urlencode({"code": code, "state": state})
        separator = "&" if "?" in redirect else "?"
        return Response(302, b"", "text/html; charset=utf-8", headers={"Location": f"{redirect}{separator}{query}"})

    def _access_token(self, request: Request) -> Response:
        redeemed = self._redeem(request, "oa", "code")
        if isinstance(redeemed, Response):
            return redeemed
        company, grant = redeemed
        if grant.scope == USERINFO:
            self._authorised.add((grant.appid, grant.person))
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _Grant(grant.appid, grant.person, grant.scope, self._clock.now() + TOKEN_TTL_SECONDS)
        answer = {
            "access_token": token,
            "expires_in": TOKEN_TTL_SECONDS,
            "refresh_token": secrets.token_urlsafe(32),
            "openid": openid(grant.appid, grant.person),
            "scope": grant.scope,
        }
        if (grant.appid, grant.person) in self._authorised:
            answer["unionid"] = unionid_of(company, grant.person)
        return _json(answer)

    def _userinfo(self, request: Request) -> Response:
        grant = self._tokens.get(request.query.get("access_token", ""))
        if grant is None or grant.expires_at < self._clock.now():
            return _error(INVALID_TOKEN, "invalid credential, access_token is invalid or not latest")
        if grant.scope != USERINFO or request.query.get("openid") != openid(grant.appid, grant.person):
            return _error(SCOPE_UNAUTHORIZED, "api unauthorized")
        company = self._company(grant.appid, "oa")
        assert company is not None
        return _json(
            {
                "openid": openid(grant.appid, grant.person),
                "nickname": f"微信用户{grant.person[-4:]}",
                "sex": 0,
                "province": "",
                "city": "",
                "country": "",
                "headimgurl": "",
                "privilege": [],
                "unionid": unionid_of(company, grant.person),
            }
        )

    def _jscode2session(self, request: Request) -> Response:
        redeemed = self._redeem(request, "mp", "js_code")
        if isinstance(redeemed, Response):
            return redeemed
        company, grant = redeemed
        return _json(
            {
                "openid": openid(grant.appid, grant.person),
                "session_key": secrets.token_urlsafe(16),
                "unionid": unionid_of(company, grant.person),
            }
        )
