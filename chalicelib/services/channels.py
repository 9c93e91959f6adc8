"""Channels as the admin API changes them: WeCom's 「联系我」 configuration and our store kept in step.

Create reserves the State first (one channel per State, so a new friend's State names one channel), then asks WeCom
for the QR code (add_contact_way, always a multi-user way so that later edits may change how many employees it has)
and stores the channel; a failed WeCom call gives the State back. Update and delete
change WeCom first (update_contact_way, del_contact_way), then the store. WeCom's config_id is the channel's id.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib.domain.channels import Channel, ChannelChanges
from chalicelib.domain.wecom_limits import CONTACT_WAY_REMARK_MAX_CHARS, CONTACT_WAY_STATE_MAX_CHARS
from chalicelib.services.tenant_context import TenantContext
from chalicelib.store.channels import ChannelStore

ADD_API = "externalcontact/add_contact_way"
UPDATE_API = "externalcontact/update_contact_way"
DELETE_API = "externalcontact/del_contact_way"
MULTI_USER = 2
QR_CODE_SCENE = 2
GENERATED_STATE_LENGTH = 12


def new_state() -> str:
    """A State for a channel that was not given one: `ch` and random letters and digits (well within 30 chars)."""
    alphabet = string.ascii_lowercase + string.digits
    return "ch" + "".join(secrets.choice(alphabet) for _ in range(GENERATED_STATE_LENGTH - 2))


def _contact_way_users(channel: Channel) -> dict[str, Any]:
    return {
        "user": list(channel.userids),
        "skip_verify": channel.skip_verify,
        "remark": channel.name[:CONTACT_WAY_REMARK_MAX_CHARS],
    }


def create_channel(ctx: TenantContext, draft: Channel) -> Channel:
    """Reserve the State, create the QR code in WeCom, store the channel; StateTaken when the State is in use."""

    def contact_way(state: str) -> tuple[str, str]:
        body = {**_contact_way_users(draft), "type": MULTI_USER, "scene": QR_CODE_SCENE, "state": state}
        answer = ctx.wecom.post(ADD_API, body, retry_safe=False)
        return answer["config_id"], answer.get("qr_code", "")

    return register_channel(ctx, draft, contact_way)


def register_channel(ctx: TenantContext, draft: Channel, create_in_wecom: Callable[[str], tuple[str, str]]) -> Channel:
    """The one way a State becomes attributable: reserve it (a generated one when the draft has none), let
    `create_in_wecom(state)` make what carries it and answer (channel id, QR code or URL), store the channel.
    A failure gives the State back. Contact ways and acquisition-link campaigns both come through here."""
    state = draft.state or new_state()
    if len(state) > CONTACT_WAY_STATE_MAX_CHARS:
        raise ValueError(f"state is longer than {CONTACT_WAY_STATE_MAX_CHARS} characters")
    store: ChannelStore = ctx.channels
    pending = f"pending-{secrets.token_hex(8)}"
    store.reserve_state(state, pending)
    try:
        config_id, qr_code = create_in_wecom(state)
    except Exception:
        store.release_state(state)
        raise
    now = int(time.time())
    channel = replace(draft, config_id=config_id, state=state, qr_code=qr_code, created_at=now, updated_at=now)
    stored = store.put(channel)
    store.assign_state(state, pending, channel.config_id)
    return stored


def update_channel(ctx: TenantContext, channel: Channel, changes: ChannelChanges) -> Channel:
    """Apply changes; WeCom is told first when its part (users, verification, name) changed."""
    updated = changes.applied_to(channel, int(time.time()))
    if (updated.userids, updated.skip_verify, updated.name) != (channel.userids, channel.skip_verify, channel.name):
        body = {"config_id": channel.config_id, **_contact_way_users(updated)}
        ctx.wecom.post(UPDATE_API, body, retry_safe=True)
    return ctx.channels.put(updated)


def delete_channel(ctx: TenantContext, channel: Channel) -> None:
    """Delete the QR code in WeCom, then the channel (its friends' relations keep their State)."""
    ctx.wecom.post(DELETE_API, {"config_id": channel.config_id}, retry_safe=True)
    ctx.channels.delete(channel)
