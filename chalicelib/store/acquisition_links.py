"""Acquisition links (获客助手) of one tenant and who is alerted about them (data table).

| item | pk | sk |
|---|---|---|
| link | `<t>#acq-link` | `<link_id>` |
| alert recipients | `<t>#acq-alerts` | `userids` |

A link's campaigns are channels (`store.channels`, with `link_id` set); this store keeps the link itself, its status
and the last `customer_acquisition` event applied to it.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.acquisition import AcquisitionLink
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table

ALERTS_SK = "userids"


@on_table(resources.DATA)
class LinkItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    url = UnicodeAttribute()
    userids = ListAttribute(of=UnicodeAttribute, null=True)
    department_ids = ListAttribute(of=NumberAttribute, null=True)
    skip_verify = BooleanAttribute()
    status = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    last_event = UnicodeAttribute(null=True)
    last_event_at = NumberAttribute(null=True)
    chats_started = NumberAttribute(null=True)


@on_table(resources.DATA)
class AlertRecipientsItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    userids = ListAttribute(of=UnicodeAttribute)


def _link_of(item: LinkItem) -> AcquisitionLink:
    return AcquisitionLink(
        link_id=item.sk,
        name=item.name,
        url=item.url,
        userids=tuple(item.userids or ()),
        department_ids=tuple(int(d) for d in item.department_ids or ()),
        skip_verify=bool(item.skip_verify),
        status=item.status,
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
        last_event=item.last_event or "",
        last_event_at=int(item.last_event_at or 0),
        chats_started=int(item.chats_started or 0),
    )


class AcquisitionLinkStore:
    """Links and alert recipients of one tenant."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        self.settings = bind_models(settings)

    def _pk(self) -> str:
        return self.keys.key("acq-link")

    def put(self, link: AcquisitionLink) -> AcquisitionLink:
        """Write a link's configuration and status (its event figures are kept: they only move with events)."""
        item = LinkItem(self._pk(), link.link_id)
        actions = [
            LinkItem.name.set(link.name),
            LinkItem.url.set(link.url),
            LinkItem.skip_verify.set(link.skip_verify),
            LinkItem.status.set(link.status),
            LinkItem.created_at.set(link.created_at),
            LinkItem.updated_at.set(link.updated_at),
            LinkItem.userids.set(list(link.userids)) if link.userids else LinkItem.userids.remove(),
            LinkItem.department_ids.set(list(link.department_ids))
            if link.department_ids
            else LinkItem.department_ids.remove(),
        ]
        item.update(actions=actions)
        return _link_of(item)

    def get(self, link_id: str) -> AcquisitionLink | None:
        try:
            return _link_of(LinkItem.get(self._pk(), link_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list(self) -> list[AcquisitionLink]:
        return [_link_of(i) for i in LinkItem.query(self._pk())]

    def delete(self, link_id: str) -> None:
        LinkItem(self._pk(), link_id).delete()

    def record_event(self, link_id: str, change_type: str, at: int, status: str | None, chat_started: bool) -> bool:
        """Note an event on a known link: its status, a started chat counted, the latest event kept as the last one;
        False when the link is unknown."""
        actions = []
        if chat_started:
            actions.append(LinkItem.chats_started.add(1))
        if status is not None:
            actions.append(LinkItem.status.set(status))
        newer = LinkItem.last_event_at.does_not_exist() | (LinkItem.last_event_at <= at)
        if actions:
            try:
                LinkItem(self._pk(), link_id).update(actions=actions, condition=LinkItem.pk.exists())
            except UpdateError as error:
                if is_condition_failure(error):
                    return False
                raise
        elif self.get(link_id) is None:
            return False
        try:
            LinkItem(self._pk(), link_id).update(
                actions=[LinkItem.last_event.set(change_type), LinkItem.last_event_at.set(at)],
                condition=LinkItem.pk.exists() & newer,
            )
        except UpdateError as error:
            if not is_condition_failure(error):
                raise
        return True

    def set_alert_recipients(self, userids: list[str]) -> None:
        AlertRecipientsItem(self.keys.key("acq-alerts"), ALERTS_SK, userids=userids).save()

    def alert_recipients(self) -> list[str]:
        try:
            return list(AlertRecipientsItem.get(self.keys.key("acq-alerts"), ALERTS_SK).userids or ())
        except DoesNotExist:
            return []
