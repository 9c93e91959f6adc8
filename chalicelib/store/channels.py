"""Channels (「联系我」 QR codes) of one tenant, their friends and the welcome messages of employees (data table).

| item | pk | sk |
|---|---|---|
| channel | `<t>#channel` | `<config_id>` |
| State reservation | `<t>#channel-state` | `<state>` (→ config_id; one channel per State) |
| channel friend | `<t>#channel-friend#<config_id>` | `<userid>#<external_userid>` |
| welcome of an employee / the tenant's default | `<t>#welcome` | `<userid>` / `_default` |

A new friend carries the State of the QR code they scanned; `by_state` finds its channel. The channel item keeps two
counters, friends added and friends lost, moved together with the friend item in one TransactWrite by conditional
transitions (absent → active: added + 1; active → lost: lost + 1; lost → active again: added + 1), each guarded by the
WeCom event time, so a redelivered or older event never counts twice. "Still friends" is added − lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.channels import Channel, welcome_from_json, welcome_to_json
from chalicelib.domain.lifecycle import WelcomeContent
from chalicelib.store.dynamo import failed_conditions, is_condition_failure
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table, shared_connection

DEFAULT_WELCOME = "_default"
ACTIVE, LOST = "active", "lost"
MAX_ATTEMPTS = 5


@on_table(resources.DATA)
class ChannelItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    state = UnicodeAttribute()
    userids = ListAttribute(of=UnicodeAttribute)
    skip_verify = BooleanAttribute()
    auto_tag_ids = ListAttribute(of=UnicodeAttribute, null=True)
    welcome = UnicodeAttribute(null=True)
    qr_code = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    friends_added = NumberAttribute(null=True)
    friends_lost = NumberAttribute(null=True)
    link_id = UnicodeAttribute(null=True)


@on_table(resources.DATA)
class StateItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    config_id = UnicodeAttribute()


@on_table(resources.DATA)
class ChannelFriendItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    event_time = NumberAttribute()
    added_at = NumberAttribute()
    lost_at = NumberAttribute(null=True)


@on_table(resources.DATA)
class WelcomeItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    welcome = UnicodeAttribute()
    updated_at = NumberAttribute()


class StateTaken(Exception):
    """Another channel of the tenant already uses this State."""


class ChannelStore:
    """Channels, channel friends and welcome messages of one tenant."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        self.settings = bind_models(settings)

    def _channel_pk(self) -> str:
        return self.keys.key("channel")

    def _state_pk(self) -> str:
        return self.keys.key("channel-state")

    def _friend_pk(self, config_id: str) -> str:
        return self.keys.key("channel-friend", config_id)

    @staticmethod
    def _channel_of(item: ChannelItem) -> Channel:
        return Channel(
            config_id=item.sk,
            name=item.name,
            state=item.state,
            userids=tuple(item.userids or ()),
            skip_verify=bool(item.skip_verify),
            auto_tag_ids=tuple(item.auto_tag_ids or ()),
            welcome=welcome_from_json(item.welcome),
            qr_code=item.qr_code or "",
            created_at=int(item.created_at),
            updated_at=int(item.updated_at),
            friends_added=int(item.friends_added or 0),
            friends_lost=int(item.friends_lost or 0),
            link_id=item.link_id or "",
        )

    # State reservations: a State is taken before WeCom is asked for the QR code that carries it.

    def reserve_state(self, state: str, config_id: str) -> None:
        """Take `state` for a channel; StateTaken when another channel has it."""
        try:
            StateItem(self._state_pk(), state, config_id=config_id).save(condition=StateItem.pk.does_not_exist())
        except PutError as error:
            if is_condition_failure(error):
                raise StateTaken(state) from None
            raise

    def assign_state(self, state: str, reserved_for: str, config_id: str) -> None:
        """Point a reservation made for `reserved_for` at the channel WeCom created."""
        StateItem(self._state_pk(), state).update(
            actions=[StateItem.config_id.set(config_id)], condition=StateItem.config_id == reserved_for
        )

    def release_state(self, state: str) -> None:
        try:
            StateItem(self._state_pk(), state).delete()
        except DeleteError as error:
            if not is_condition_failure(error):
                raise

    # channels

    def put(self, channel: Channel) -> Channel:
        """Write a channel's configuration (its figures are kept: they only move with friends)."""
        item = ChannelItem(
            self._channel_pk(),
            channel.config_id,
            name=channel.name,
            state=channel.state,
            userids=list(channel.userids),
            skip_verify=channel.skip_verify,
            auto_tag_ids=list(channel.auto_tag_ids) or None,
            welcome=welcome_to_json(channel.welcome) if channel.welcome else None,
            qr_code=channel.qr_code or None,
            link_id=channel.link_id or None,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )
        actions = [
            ChannelItem.name.set(item.name),
            ChannelItem.state.set(item.state),
            ChannelItem.userids.set(item.userids),
            ChannelItem.skip_verify.set(item.skip_verify),
            ChannelItem.created_at.set(item.created_at),
            ChannelItem.updated_at.set(item.updated_at),
        ]
        for attribute, value in (
            (ChannelItem.auto_tag_ids, item.auto_tag_ids),
            (ChannelItem.welcome, item.welcome),
            (ChannelItem.qr_code, item.qr_code),
            (ChannelItem.link_id, item.link_id),
        ):
            actions.append(attribute.set(value) if value else attribute.remove())
        item.update(actions=actions)
        return self._channel_of(item)

    def get(self, config_id: str) -> Channel | None:
        try:
            return self._channel_of(ChannelItem.get(self._channel_pk(), config_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list(self) -> list[Channel]:
        return [self._channel_of(i) for i in ChannelItem.query(self._channel_pk())]

    def by_state(self, state: str) -> Channel | None:
        """The channel whose QR code carries `state`, if any."""
        if not state:
            return None
        try:
            reservation = StateItem.get(self._state_pk(), state)
        except DoesNotExist:
            return None
        return self.get(reservation.config_id)

    def delete(self, channel: Channel) -> None:
        ChannelItem(self._channel_pk(), channel.config_id).delete()
        self.release_state(channel.state)

    # friends and figures

    def _friend(self, config_id: str, userid: str, external_userid: str) -> ChannelFriendItem | None:
        try:
            return ChannelFriendItem.get(
                self._friend_pk(config_id), f"{userid}#{external_userid}", consistent_read=True
            )
        except DoesNotExist:
            return None

    def friend_times(self, config_id: str) -> list[tuple[int, int | None]]:
        """(added_at, lost_at or None) of every friend the channel brought, for its retention figures."""
        return [
            (int(i.added_at), int(i.lost_at) if i.lost_at is not None else None)
            for i in ChannelFriendItem.query(self._friend_pk(config_id))
        ]

    def friend_added(self, config_id: str, userid: str, external_userid: str, event_time: int) -> bool:
        """Count a new friend of a channel once; False when it was counted already or a newer event is stored."""
        return self._transition(config_id, userid, external_userid, event_time, ACTIVE)

    def friend_lost(self, config_id: str, userid: str, external_userid: str, event_time: int) -> bool:
        """Count a lost friend of a channel once; False when not an active friend of it (or a newer event is)."""
        return self._transition(config_id, userid, external_userid, event_time, LOST)

    def _transition(self, config_id: str, userid: str, external_userid: str, event_time: int, to: str) -> bool:
        for _ in range(MAX_ATTEMPTS):
            old = self._friend(config_id, userid, external_userid)
            if old is not None and (old.status == to or int(old.event_time) > event_time):
                return False
            if old is None and to == LOST:
                return False
            friend = ChannelFriendItem(
                self._friend_pk(config_id),
                f"{userid}#{external_userid}",
                status=to,
                event_time=event_time,
                added_at=event_time if to == ACTIVE else int(old.added_at),
                lost_at=event_time if to == LOST else None,
            )
            counter = ChannelItem.friends_added if to == ACTIVE else ChannelItem.friends_lost
            try:
                with TransactWrite(connection=shared_connection(self.settings)) as tx:
                    tx.save(
                        friend,
                        condition=(
                            ChannelFriendItem.pk.does_not_exist()
                            if old is None
                            else ChannelFriendItem.event_time == old.event_time
                        ),
                    )
                    tx.update(
                        ChannelItem(self._channel_pk(), config_id),
                        actions=[counter.add(1)],
                        condition=ChannelItem.pk.exists(),
                    )
            except TransactWriteError as error:
                failed = failed_conditions(error)
                if len(failed) > 1 and failed[1]:
                    return False
                if any(failed):
                    continue
                raise
            return True
        raise RuntimeError(f"channel friend {config_id}/{userid}/{external_userid}: too much contention")

    # welcome messages of employees and the tenant's default

    def set_welcome(self, userid: str, content: WelcomeContent, now: int | None = None) -> None:
        WelcomeItem(
            self.keys.key("welcome"), userid, welcome=welcome_to_json(content), updated_at=now or int(time.time())
        ).save()

    def clear_welcome(self, userid: str) -> None:
        WelcomeItem(self.keys.key("welcome"), userid).delete()

    def welcomes(self, userids: tuple[str, ...]) -> Mapping[str, WelcomeContent]:
        """The stored welcomes among `userids` (use DEFAULT_WELCOME for the tenant's default)."""
        keys = [(self.keys.key("welcome"), u) for u in dict.fromkeys(userids)]
        found = {}
        for item in WelcomeItem.batch_get(keys):
            content = welcome_from_json(item.welcome)
            if content is not None:
                found[item.sk] = content
        return found
