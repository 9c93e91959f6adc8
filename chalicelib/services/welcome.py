"""New friends: the welcome message first (its code lives 20 s), then the customer, the channel and its auto-tags.

`send_welcome` runs on the new-friend queue, for every new friend of a batch at once, and nothing slow runs there.
It picks the channel's welcome (by the State the friend scanned; channels and welcomes are cached for
LOOKUP_TTL_SECONDS), else the employee's, else the tenant's default, and sends it with the event's WelcomeCode, on
the time budget of `domain.welcome_budget`: a code too old to be answered in time is recorded as expired without a
call; a code that another app is using (41096), or a call WeCom was too busy for or did not answer, is tried again
within the code's life, in process (a redelivery would come after the queue's visibility timeout, too late for any
code). 41051 means it was delivered already (e.g. by an earlier attempt whose answer was lost): never repeated.
41050 means the code expired: recorded.

`store_new_friend` (on the events queue, afterwards) stores the customer and relation, counts the friend for the
channel, and applies the channel's auto-tags with mark_tag. WeCom sends no callback for changes made through its API,
so the stored relation gets those tags here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain import welcome_budget
from chalicelib.domain.channels import Channel
from chalicelib.domain.lifecycle import WelcomeContent, WelcomeOutcome, choose_welcome, welcome_outcome
from chalicelib.domain.ttl_cache import TtlCache
from chalicelib.observability import logger
from chalicelib.services.relations import fetch_customer
from chalicelib.services.tenant_context import TenantContext
from chalicelib.services.tracked_links import per_sender
from chalicelib.store.channels import DEFAULT_WELCOME
from chalicelib.wecom.errors import (
    ConcurrencyLimited,
    OutcomeUnknown,
    RateLimited,
    SystemBusy,
    WeComError,
    WeComUnavailable,
)
from chalicelib.wecom.events import ExternalContactEvent

SEND_WELCOME_API = "externalcontact/send_welcome_msg"
MARK_TAG_API = "externalcontact/mark_tag"
LOOKUP_TTL_SECONDS = 30.0

_lookups: TtlCache[tuple[str, str, str], Any] = TtlCache()


def _cached(key: tuple[str, str, str], load: Callable[[], Any]) -> Any:
    """A channel or welcome as read at most LOOKUP_TTL_SECONDS ago in this process: the new-friend path reads them
    for every friend, and an admin's change may take that long to reach a warm worker."""
    return _lookups.get(key, lambda: (load(), LOOKUP_TTL_SECONDS))


def channel_of(ctx: TenantContext, state: str) -> Channel | None:
    """The channel whose QR code carries `state` (cached briefly)."""
    if not state:
        return None
    return _cached((ctx.tenant_id, "channel", state), lambda: ctx.channels.by_state(state))


def _welcomes(ctx: TenantContext, userid: str) -> Mapping[str, WelcomeContent]:
    return _cached((ctx.tenant_id, "welcome", userid), lambda: ctx.channels.welcomes((userid, DEFAULT_WELCOME)))


def forget_lookups() -> None:
    """Drop the cached channels and welcomes (tests, and an admin change made in this process)."""
    _lookups.forget()


@dataclass(frozen=True)
class WelcomeResult:
    """What became of a new friend's welcome, and the channel the friend came through (if any)."""

    outcome: WelcomeOutcome | None
    channel: Channel | None
    detail: str = ""


def send_welcome(
    ctx: TenantContext,
    event: ExternalContactEvent,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> WelcomeResult:
    """Send the new friend's welcome; outcome None when there is no code or no welcome configured."""
    channel = channel_of(ctx, event.state)
    if not event.welcome_code:
        return WelcomeResult(None, channel)
    welcomes = _welcomes(ctx, event.user_id)
    content = choose_welcome(
        channel.welcome if channel else None, welcomes.get(event.user_id), welcomes.get(DEFAULT_WELCOME)
    )
    if content is None:
        return WelcomeResult(None, channel, "no welcome message configured")
    campaign = channel.config_id if channel else "welcome"
    content = replace(
        content, attachments=tuple(per_sender(ctx.tenant_id, content.attachments, event.user_id, campaign))
    )
    if not welcome_budget.may_attempt(clock(), event.create_time):
        age = clock() - event.create_time
        return WelcomeResult(WelcomeOutcome.EXPIRED, channel, f"code {age:.1f} s old: too late to send, not tried")
    while True:
        try:
            ctx.wecom.post(SEND_WELCOME_API, content.request_body(event.welcome_code), retry_safe=False)
            return WelcomeResult(WelcomeOutcome.SENT, channel)
        except (RateLimited, ConcurrencyLimited, SystemBusy, WeComUnavailable, OutcomeUnknown) as error:
            outcome, detail = WelcomeOutcome.RETRY, str(error)
        except WeComError as error:
            outcome, detail = welcome_outcome(error.errcode), str(error)
        if outcome is not WelcomeOutcome.RETRY:
            return WelcomeResult(outcome, channel, detail)
        if not welcome_budget.may_retry(clock(), event.create_time):
            return WelcomeResult(WelcomeOutcome.EXPIRED, channel, f"window closed while retrying: {detail}")
        logger.info("welcome retried within its window", extra={"reason": detail})
        sleep(welcome_budget.RETRY_PAUSE_SECONDS)


def store_new_friend(ctx: TenantContext, event: ExternalContactEvent, channel: Channel | None) -> bool:
    """Store the customer and relation, count the friend for its channel and apply the channel's auto-tags.

    False when WeCom no longer lists the relation (deleted before we read it) or a newer event is stored.
    """
    relation = fetch_customer(ctx, event.external_user_id, event.user_id, event.create_time)
    if relation is None:
        logger.info("new friend no longer listed by WeCom", extra={"userid": event.user_id})
        return False
    if channel is not None:
        missing = sorted(set(channel.auto_tag_ids) - relation.tag_ids)
        if missing:
            ctx.wecom.post(
                MARK_TAG_API,
                {"userid": event.user_id, "external_userid": event.external_user_id, "add_tag": missing},
                retry_safe=True,
            )
            relation = replace(relation, tag_ids=relation.tag_ids | frozenset(missing))
    applied = ctx.customers.apply_follow(relation)
    if channel is not None:
        ctx.channels.friend_added(channel.config_id, event.user_id, event.external_user_id, event.create_time)
    return applied
