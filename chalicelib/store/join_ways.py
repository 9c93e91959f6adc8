"""Group join ways (群活码) of one tenant (data table): `<t>#joinway` / `<config_id>`.

A join way's state is reserved in the same space as friend channels' states (`ChannelStore.reserve_state`), so a
state names one channel or one join way of the tenant, never two.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.join_ways import JoinWay
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table


@on_table(resources.DATA)
class JoinWayItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    state = UnicodeAttribute()
    chat_ids = ListAttribute(of=UnicodeAttribute)
    auto_create_room = BooleanAttribute()
    room_base_name = UnicodeAttribute(null=True)
    room_base_id = NumberAttribute()
    qr_code = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


def _way(item: JoinWayItem) -> JoinWay:
    return JoinWay(
        config_id=item.sk,
        name=item.name,
        state=item.state,
        chat_ids=tuple(item.chat_ids or ()),
        auto_create_room=bool(item.auto_create_room),
        room_base_name=item.room_base_name or "",
        room_base_id=int(item.room_base_id),
        qr_code=item.qr_code or "",
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
    )


class JoinWayStore:
    """Join ways of one tenant."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        bind_models(settings)

    def _pk(self) -> str:
        return self.keys.key("joinway")

    def put(self, way: JoinWay) -> JoinWay:
        JoinWayItem(
            self._pk(),
            way.config_id,
            name=way.name,
            state=way.state,
            chat_ids=list(way.chat_ids),
            auto_create_room=way.auto_create_room,
            room_base_name=way.room_base_name or None,
            room_base_id=way.room_base_id,
            qr_code=way.qr_code or None,
            created_at=way.created_at,
            updated_at=way.updated_at,
        ).save()
        return way

    def get(self, config_id: str) -> JoinWay | None:
        try:
            return _way(JoinWayItem.get(self._pk(), config_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list(self) -> list[JoinWay]:
        return [_way(i) for i in JoinWayItem.query(self._pk())]

    def delete(self, config_id: str) -> None:
        JoinWayItem(self._pk(), config_id).delete()
