"""WeCom's web OAuth codes of one corp: what its authorize page gives a browser (single use, 5 minutes), naming a
member by userid, or anyone else (a WeChat user) by an openid only; `auth/getuserinfo` redeems them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

CODE_TTL_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class MemberLogin:
    """Who a code names: a member's `userid`, or for a non-member an `openid`."""

    userid: str
    openid: str
    expires_at: float


class MemberLogins:
    """Issued OAuth codes of one corp."""

    def __init__(self) -> None:
        self._codes: dict[str, MemberLogin] = {}

    def issue(self, userid: str, openid: str, now: float) -> str:
        code = secrets.token_urlsafe(32)
        self._codes[code] = MemberLogin(userid, openid, now + CODE_TTL_SECONDS)
        return code

    def redeem(self, code: str, now: float) -> MemberLogin | None:
        """The login of an unused, unexpired code (used up now), or None."""
        login = self._codes.pop(code, None)
        return login if login is not None and now <= login.expires_at else None
