"""A channel (「联系我」 QR code) as a plain value, the changes an admin may make to it, and the stored form of a
welcome message."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.domain.lifecycle import WelcomeContent


def welcome_to_json(content: WelcomeContent) -> str:
    return json.dumps(
        {"text": content.text, "attachments": [dict(a) for a in content.attachments]},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def welcome_from_json(text: str | None) -> WelcomeContent | None:
    if not text:
        return None
    data = json.loads(text)
    return WelcomeContent(data.get("text", ""), tuple(data.get("attachments", ())))


def welcome_as_dict(content: WelcomeContent | None) -> dict[str, Any] | None:
    if content is None:
        return None
    return {"text": content.text, "attachments": [dict(a) for a in content.attachments]}


@dataclass(frozen=True)
class Channel:
    """A 「联系我」 QR code and what happens to the friends it brings: auto-tags and a welcome message."""

    config_id: str
    name: str
    state: str
    userids: tuple[str, ...]
    skip_verify: bool = True
    auto_tag_ids: tuple[str, ...] = ()
    welcome: WelcomeContent | None = None
    qr_code: str = ""
    created_at: int = 0
    updated_at: int = 0
    friends_added: int = 0
    friends_lost: int = 0
    link_id: str = ""
    """Set when the channel is a campaign of an acquisition link (its QR code is then the campaign's URL)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel_id": self.config_id,
            "name": self.name,
            "state": self.state,
            "userids": list(self.userids),
            "skip_verify": self.skip_verify,
            "auto_tag_ids": list(self.auto_tag_ids),
            "welcome": welcome_as_dict(self.welcome),
            "qr_code": self.qr_code,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "figures": {
                "friends_added": self.friends_added,
                "friends_lost": self.friends_lost,
                "still_friends": max(0, self.friends_added - self.friends_lost),
            },
        }


@dataclass(frozen=True)
class ChannelChanges:
    """What an update may change; None leaves a field as it is."""

    name: str | None = None
    userids: tuple[str, ...] | None = None
    skip_verify: bool | None = None
    auto_tag_ids: tuple[str, ...] | None = None
    welcome: WelcomeContent | None = field(default=None)
    clear_welcome: bool = False

    def applied_to(self, channel: Channel, now: int) -> Channel:
        welcome = None if self.clear_welcome else (self.welcome or channel.welcome)
        return replace(
            channel,
            name=self.name if self.name is not None else channel.name,
            userids=self.userids if self.userids is not None else channel.userids,
            skip_verify=self.skip_verify if self.skip_verify is not None else channel.skip_verify,
            auto_tag_ids=self.auto_tag_ids if self.auto_tag_ids is not None else channel.auto_tag_ids,
            welcome=welcome,
            updated_at=now,
        )
