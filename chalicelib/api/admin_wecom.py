"""Admin routes that write to WeCom: the tenant's client, and WeCom's failures answered as precise HTTP errors.

WeCom produces no callback for changes made through its API, so a route that changes something in WeCom also updates
our store itself, after WeCom accepted the change. The WeCom client is imported on first use: most admin calls never
talk to WeCom and the API function's cold start should not pay for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalice import BadRequestError, ChaliceViewError, ConflictError, NotFoundError, TooManyRequestsError

from chalicelib.domain.wecom_limits import CORP_TAGS_MAX
from chalicelib.wecom import errors

TAG_LIMIT = 40126
TAG_NAME_EXISTS = 40071
INVALID_TAG_ID = 40068
INVALID_USERID = 40003
USERID_NOT_FOUND = 60111
INVALID_EXTERNAL_USERID = 40096
NO_RELATIONSHIP = 84061
INVALID_PARAMETER = 40058
NO_PERMISSION = 48002


class BadGatewayError(ChaliceViewError):
    STATUS_CODE = 502


class ServiceUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


class GatewayTimeoutError(ChaliceViewError):
    STATUS_CODE = 504


_CLIENT_ERRORS: dict[int, tuple[type[ChaliceViewError], str]] = {
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
}


def tenant_wecom(tenant_id: str) -> Any:
    """The WeCom client of the tenant's app (503 when the tenant has no app credentials)."""
    from chalicelib.services.tenant_context import has_credentials
    from chalicelib.services.tenant_context import tenant_wecom as client_of

    if not has_credentials(tenant_id):
        raise ServiceUnavailableError("the tenant's WeCom app credentials are not set")
    return client_of(tenant_id)


@contextmanager
def wecom_answers() -> Iterator[None]:
    """Turn WeCom's failures inside the block into HTTP errors that say what happened and what to do."""
    try:
        yield
    except (errors.RateLimited, errors.ConcurrencyLimited) as error:
        raise TooManyRequestsError(f"WeCom is rate limiting this API (errcode {error.errcode}); retry later") from None
    except errors.CredentialsInvalid as error:
        raise BadGatewayError(f"WeCom rejected the tenant's app credentials (errcode {error.errcode})") from None
    except errors.WeComError as error:
        known = _CLIENT_ERRORS.get(error.errcode)
        if known is not None:
            raise known[0](known[1]) from None
        if error.errcode == INVALID_PARAMETER:
            raise BadRequestError(f"WeCom refused a parameter (errcode 40058): {error.errmsg}") from None
        raise BadGatewayError(f"WeCom answered errcode {error.errcode}: {error.errmsg}") from None
    except errors.WeComUnavailable:
        raise ServiceUnavailableError("WeCom could not be reached; nothing was changed, retry later") from None
    except errors.OutcomeUnknown:
        raise GatewayTimeoutError(
            "WeCom did not answer in time; the change may have been made: check before retrying"
        ) from None
