"""What a WeCom call can fail with, typed so that workers branch on the class, not on numbers.

Three families:
- `WeComError`: WeCom answered with a non-zero errcode; subclasses for the codes workers act on.
- `WeComUnavailable`: the call had no effect (the request never left, or a read kept failing); safe to try later.
- `OutcomeUnknown`: a call that creates something may or may not have taken effect; reconcile before repeating.

Messages carry the API name, errcode and errmsg only: never a URL, token or secret.
"""

from __future__ import annotations

SYSTEM_BUSY = -1
INVALID_SECRET = 40001
INVALID_CORP_ID = 40013
INVALID_ACCESS_TOKEN = 40014
SECRET_OF_OTHER_CORP = 40091
ACCESS_TOKEN_MISSING = 41001
ACCESS_TOKEN_EXPIRED = 42001
API_FREQ_OUT_OF_LIMIT = 45009
API_CONCURRENT_OUT_OF_LIMIT = 45033

TOKEN_ERRCODES = frozenset({INVALID_ACCESS_TOKEN, ACCESS_TOKEN_EXPIRED, ACCESS_TOKEN_MISSING})
CREDENTIAL_ERRCODES = frozenset({INVALID_SECRET, INVALID_CORP_ID, SECRET_OF_OTHER_CORP})


class WeComError(Exception):
    """WeCom answered `errcode != 0` for `api`."""

    def __init__(self, errcode: int, errmsg: str, api: str) -> None:
        super().__init__(f"WeCom {api} failed: errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api

    def __reduce__(self) -> tuple[type[WeComError], tuple[int, str, str]]:
        return type(self), (self.errcode, self.errmsg, self.api)


class TokenInvalid(WeComError):
    """The access token was rejected even after one transparent refresh (40014, 42001, 41001)."""


class CredentialsInvalid(WeComError):
    """The corp id or app secret is wrong, reset or disabled (40001, 40013, 40091), even after re-reading it."""


class AppNotConfigured(CredentialsInvalid):
    """The tenant has no app credentials stored (never onboarded, or its secret was never set): no call can be made."""

    def __init__(self, tenant_id: str) -> None:
        super().__init__(INVALID_CORP_ID, "the tenant has no WeCom app configured", "credentials")
        self.tenant_id = tenant_id

    def __reduce__(self) -> tuple[type[AppNotConfigured], tuple[str]]:  # type: ignore[override]
        return type(self), (self.tenant_id,)


class RateLimited(WeComError):
    """45009: the per-minute/hour quota of this API is spent. Put the message back with a delay; never sleep."""


class ConcurrencyLimited(WeComError):
    """45033: too many concurrent calls of this API for the corp. Put the message back with a short delay."""


class SystemBusy(WeComError):
    """-1: WeCom was busy, after the retries a read is allowed (a create is not retried)."""


_BY_ERRCODE: dict[int, type[WeComError]] = {
    **dict.fromkeys(TOKEN_ERRCODES, TokenInvalid),
    **dict.fromkeys(CREDENTIAL_ERRCODES, CredentialsInvalid),
    API_FREQ_OUT_OF_LIMIT: RateLimited,
    API_CONCURRENT_OUT_OF_LIMIT: ConcurrencyLimited,
    SYSTEM_BUSY: SystemBusy,
}


def error_for(errcode: int, errmsg: str, api: str) -> WeComError:
    """The typed error for a non-zero errcode."""
    return _BY_ERRCODE.get(errcode, WeComError)(errcode, errmsg, api)


class WeComUnavailable(Exception):
    """WeCom could not be reached or answered garbage; the call had no effect (or was a read). Retry later."""

    def __init__(self, api: str, reason: str) -> None:
        super().__init__(f"WeCom {api} unavailable: {reason}")
        self.api = api
        self.reason = reason

    def __reduce__(self) -> tuple[type[WeComUnavailable], tuple[str, str]]:
        return type(self), (self.api, self.reason)


class OutcomeUnknown(Exception):
    """A call that creates something failed after the request may have reached WeCom.

    It was not retried: repeating it could create a duplicate (a second mass message, a second welcome). The caller
    reconciles against WeCom's own records before deciding to repeat it.
    """

    def __init__(self, api: str, reason: str) -> None:
        super().__init__(f"WeCom {api} outcome unknown: {reason}")
        self.api = api
        self.reason = reason

    def __reduce__(self) -> tuple[type[OutcomeUnknown], tuple[str, str]]:
        return type(self), (self.api, self.reason)
