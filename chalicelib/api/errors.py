"""Failures answered as HTTP in one place: a route lets the services' and WeCom's exceptions through, and every admin
and ops route (`answered`) turns them into the answer registered here, the most specific class first, so a WeCom
refusal or a bad material reads the same on every route. An exception nobody registered stays a 500 (and a log).

Only exceptions from modules the API imports anyway are registered: the WeCom client itself (httpx) stays out of the
API's cold start until a route calls WeCom.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from chalice import (
    BadRequestError,
    ChaliceViewError,
    ConflictError,
    NotFoundError,
    Response,
    TooManyRequestsError,
    UnprocessableEntityError,
)

from chalicelib.domain import materials as material_rules
from chalicelib.domain.wecom_limits import CORP_TAGS_MAX
from chalicelib.store.dynamo import InvalidCursor
from chalicelib.store.tracking import UnknownSubject
from chalicelib.wecom import errors

E = TypeVar("E", bound=BaseException)
Answer = Callable[[Any], ChaliceViewError]

TAG_LIMIT = 40126
TAG_NAME_EXISTS = 40071
INVALID_TAG_ID = 40068
INVALID_USERID = 40003
USERID_NOT_FOUND = 60111
INVALID_EXTERNAL_USERID = 40096
NO_RELATIONSHIP = 84061
INVALID_PARAMETER = 40058
ACQUISITION_LINK_LIMIT = 41095
INVALID_DEPARTMENT = 60123
NO_PERMISSION = 48002
CHAT_NOT_FOUND = 40050
GROUP_WELCOME_TEMPLATE_LIMIT = 41055
JOIN_WAY_TOO_MANY_CHATS = 41091


class BadGatewayError(ChaliceViewError):
    STATUS_CODE = 502


class ServiceUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


class GatewayTimeoutError(ChaliceViewError):
    STATUS_CODE = 504


_answers: dict[type[BaseException], Answer] = {}


def answers(*kinds: type[E]) -> Callable[[Callable[[E], ChaliceViewError]], Callable[[E], ChaliceViewError]]:
    """Register the HTTP answer to these exception classes (and their subclasses, unless registered themselves)."""

    def register(answer: Callable[[E], ChaliceViewError]) -> Callable[[E], ChaliceViewError]:
        for kind in kinds:
            _answers[kind] = answer
        return answer

    return register


def http_error(error: BaseException) -> ChaliceViewError | None:
    """The registered answer to `error`, or None when its class (and every base) is unregistered."""
    for kind in type(error).__mro__:
        answer = _answers.get(kind)
        if answer is not None:
            return answer(error)
    return None


def answered(view: Callable[..., Any]) -> Callable[..., Any]:
    """`view` with registered exceptions turned into their HTTP answers."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ChaliceViewError:
            raise
        except Exception as error:
            answer = http_error(error)
            if answer is None:
                raise
            raise answer from None

    return wrapper


def error_response(error: ChaliceViewError) -> Response:
    """The answer Chalice gives a view that raises `error`, for code that runs outside a view (middleware)."""
    return Response({"Code": type(error).__name__, "Message": str(error)}, status_code=error.STATUS_CODE)


_WECOM_CLIENT_ERRORS: dict[int, tuple[type[ChaliceViewError], str]] = {
    TAG_LIMIT: (
        ConflictError,
        f"WeCom allows at most {CORP_TAGS_MAX} corp tags per company and the limit is reached "
        "(WeCom errcode 40126): delete unused tags first",
    ),
    TAG_NAME_EXISTS: (ConflictError, "a tag or group with this name already exists in WeCom (errcode 40071)"),
    INVALID_TAG_ID: (NotFoundError, "WeCom does not know this tag or group (errcode 40068)"),
    INVALID_USERID: (BadRequestError, "WeCom does not know this employee, or they left (errcode 40003)"),
    USERID_NOT_FOUND: (BadRequestError, "WeCom does not know this employee (errcode 60111)"),
    INVALID_EXTERNAL_USERID: (NotFoundError, "WeCom does not know this customer (errcode 40096)"),
    NO_RELATIONSHIP: (
        ConflictError,
        "in WeCom this employee no longer has this customer (errcode 84061); the relation is marked at the next sync",
    ),
    NO_PERMISSION: (BadGatewayError, "the tenant's app may not call this WeCom API (errcode 48002)"),
    INVALID_DEPARTMENT: (BadRequestError, "WeCom does not know this department (errcode 60123)"),
    ACQUISITION_LINK_LIMIT: (
        ConflictError,
        "WeCom's limit of acquisition links is reached (errcode 41095): delete links no longer used",
    ),
    CHAT_NOT_FOUND: (BadRequestError, "WeCom does not know this group chat, or it was dismissed (errcode 40050)"),
    GROUP_WELCOME_TEMPLATE_LIMIT: (
        ConflictError,
        "WeCom allows at most 100 group welcome templates per company (errcode 41055): delete unused ones first",
    ),
    JOIN_WAY_TOO_MANY_CHATS: (BadRequestError, "a join way takes at most 5 group chats (errcode 41091)"),
}


@answers(errors.WeComError)
def _wecom_refused(error: errors.WeComError) -> ChaliceViewError:
    known = _WECOM_CLIENT_ERRORS.get(error.errcode)
    if known is not None:
        return known[0](known[1])
    if error.errcode == INVALID_PARAMETER:
        return BadRequestError(f"WeCom refused a parameter (errcode 40058): {error.errmsg}")
    return BadGatewayError(f"WeCom refused the request: errcode {error.errcode}")


@answers(errors.RateLimited, errors.ConcurrencyLimited)
def _wecom_rate_limited(error: errors.WeComError) -> ChaliceViewError:
    return TooManyRequestsError(f"WeCom is rate limiting this tenant (errcode {error.errcode}); retry in a minute")


@answers(errors.SystemBusy)
def _wecom_busy(error: errors.SystemBusy) -> ChaliceViewError:
    return ServiceUnavailableError(f"WeCom is busy (errcode {error.errcode}); try again shortly")


@answers(errors.CredentialsInvalid, errors.TokenInvalid)
def _wecom_credentials(error: errors.WeComError) -> ChaliceViewError:
    return BadGatewayError(f"WeCom rejected the tenant's app credentials (errcode {error.errcode})")


@answers(errors.AppNotConfigured)
def _no_app(error: errors.AppNotConfigured) -> ChaliceViewError:
    return ConflictError("the tenant has no WeCom app configured: set its credentials first")


@answers(errors.WeComUnavailable)
def _wecom_unreachable(error: errors.WeComUnavailable) -> ChaliceViewError:
    return ServiceUnavailableError("WeCom could not be reached; nothing was changed, retry later")


@answers(errors.OutcomeUnknown)
def _wecom_silent(error: errors.OutcomeUnknown) -> ChaliceViewError:
    return GatewayTimeoutError("WeCom did not answer in time; the change may have been made: check before retrying")


@answers(material_rules.InvalidMaterial)
def _invalid_material(error: material_rules.InvalidMaterial) -> ChaliceViewError:
    return BadRequestError(str(error))


@answers(material_rules.SourceUnavailable)
def _source_unavailable(error: material_rules.SourceUnavailable) -> ChaliceViewError:
    return UnprocessableEntityError(str(error))


@answers(UnknownSubject)
def _unknown_subject(error: UnknownSubject) -> ChaliceViewError:
    return NotFoundError(str(error))


@answers(InvalidCursor)
def _invalid_cursor(error: InvalidCursor) -> ChaliceViewError:
    return BadRequestError("query parameter 'cursor' is not a cursor this listing handed out")
