"""A tenant's material library as stored (data table); fetching sources and uploading media is
`services.materials`'.

| item | pk | sk | index keys |
|---|---|---|---|
| material | `<t>#material` | `<material_id>` | gsi1 `<t>#material#<type>` / `<material_id>` |
| one message's use of it | `<t>#matuse#<material_id>` | `<message_id>` | (expires after `USE_RETENTION_DAYS`) |

Material ids are 20 hex digits that begin with the creation time, so a Query newest-first is a list newest-first,
and listing one kind is a Query of gsi1. A media id is replaced only by a write conditioned on the upload time it
replaces, so of two concurrent renewals one is kept (both are valid media ids).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import resources
from chalicelib.domain import materials as rules
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table, shared_connection

USE_RETENTION_DAYS = 400


class MaterialNotFound(LookupError):
    """Material ids that this tenant does not have (never says whether another tenant has them)."""

    def __init__(self, material_ids: list[str]) -> None:
        super().__init__(f"no such material: {', '.join(material_ids)}")
        self.material_ids = material_ids


@dataclass(frozen=True)
class MediaUpload:
    """A source's bytes uploaded as WeCom temporary media: its id, when, its size and digest."""

    media_id: str
    uploaded_at: int
    size: int
    sha256: str


class ByTypeIndex(GlobalSecondaryIndex["MaterialItem"]):
    """A tenant's materials of one kind, by id (creation time)."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


@on_table(resources.DATA)
class MaterialItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_type = ByTypeIndex()
    type = UnicodeAttribute()
    title = UnicodeAttribute()
    desc = UnicodeAttribute(null=True)
    url = UnicodeAttribute(null=True)
    picurl = UnicodeAttribute(null=True)
    source_url = UnicodeAttribute(null=True)
    appid = UnicodeAttribute(null=True)
    page = UnicodeAttribute(null=True)
    body = UnicodeAttribute(null=True)
    media_id = UnicodeAttribute(null=True)
    uploaded_at = NumberAttribute(null=True)
    media_bytes = NumberAttribute(null=True)
    media_sha256 = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    use_count = NumberAttribute(default=0)


@on_table(resources.DATA)
class MaterialUseItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    used_at = NumberAttribute()
    expires_at = NumberAttribute()


@dataclass(frozen=True)
class Material:
    """A material as admins see it; `attachment` fields plus where its bytes come from and its media id's age."""

    material_id: str
    type: str
    title: str
    desc: str | None
    url: str | None
    picurl: str | None
    source_url: str | None
    appid: str | None
    page: str | None
    media_id: str | None
    uploaded_at: int | None
    media_bytes: int | None
    created_at: int
    updated_at: int
    use_count: int
    body: str | None = None

    def as_dict(self) -> dict[str, Any]:
        fields = {
            "material_id": self.material_id,
            "type": self.type,
            "title": self.title,
            "desc": self.desc,
            "url": self.url,
            "picurl": self.picurl,
            "source_url": self.source_url,
            "appid": self.appid,
            "page": self.page,
            "body": self.body,
            "media_bytes": self.media_bytes,
            "uploaded_at": self.uploaded_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "use_count": self.use_count,
        }
        return {name: value for name, value in fields.items() if value is not None}


def _from_item(item: MaterialItem) -> Material:
    def maybe_int(value: float | None) -> int | None:
        return None if value is None else int(value)

    return Material(
        material_id=item.sk,
        type=item.type,
        title=item.title,
        desc=item.desc,
        url=item.url,
        picurl=item.picurl,
        source_url=item.source_url,
        appid=item.appid,
        page=item.page,
        media_id=item.media_id,
        uploaded_at=maybe_int(item.uploaded_at),
        media_bytes=maybe_int(item.media_bytes),
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
        use_count=int(item.use_count or 0),
        body=item.body,
    )


def new_material_id(now: float) -> str:
    """Creation time in milliseconds (12 hex digits) then 8 random hex digits: sorts by creation."""
    return f"{int(now * 1000):012x}{secrets.token_hex(4)}"


class MaterialStore:
    """One tenant's stored materials; it cannot read or write another tenant's."""

    def __init__(self, tenant_id: str, *, clock: Callable[[], float] = time.time) -> None:
        self.tenant_id = tenant_id
        self._keys = TenantKeys(tenant_id)
        self._pk = self._keys.key("material")
        self._clock = clock
        self._settings = bind_models()

    def put(self, spec: rules.MaterialSpec, upload: MediaUpload | None, now: float) -> Material:
        """Store a new, already checked material (with its media, for kinds with bytes)."""
        material_id = new_material_id(now)
        item = MaterialItem(
            pk=self._pk,
            sk=material_id,
            gsi1pk=self._keys.key("material", spec.type),
            gsi1sk=material_id,
            type=spec.type,
            title=spec.title,
            desc=spec.desc,
            url=spec.url,
            picurl=spec.picurl,
            source_url=spec.source_url,
            appid=spec.appid,
            page=spec.page,
            body=spec.body,
            media_id=upload.media_id if upload else None,
            uploaded_at=upload.uploaded_at if upload else None,
            media_bytes=upload.size if upload else None,
            media_sha256=upload.sha256 if upload else None,
            created_at=int(now),
            updated_at=int(now),
            use_count=0,
        )
        item.save(condition=MaterialItem.pk.does_not_exist())
        return _from_item(item)

    def _item(self, material_id: str) -> MaterialItem | None:
        if not rules.MATERIAL_ID_PATTERN.fullmatch(material_id):
            return None
        try:
            return MaterialItem.get(self._pk, material_id, consistent_read=True)
        except DoesNotExist:
            return None

    def get(self, material_id: str) -> Material | None:
        item = self._item(material_id)
        return None if item is None else _from_item(item)

    def page(self, kind: str | None, limit: int, cursor: str | None = None) -> tuple[list[Material], str | None]:
        """Newest first, optionally one kind; the cursor is the last material id of the previous page."""
        if cursor is not None and not rules.MATERIAL_ID_PATTERN.fullmatch(cursor):
            raise ValueError("invalid cursor")
        if kind is None:
            last_key = {"pk": {"S": self._pk}, "sk": {"S": cursor}} if cursor else None
            result = MaterialItem.query(self._pk, scan_index_forward=False, limit=limit, last_evaluated_key=last_key)
        else:
            type_pk = self._keys.key("material", kind)
            last_key = (
                {"pk": {"S": self._pk}, "sk": {"S": cursor}, "gsi1pk": {"S": type_pk}, "gsi1sk": {"S": cursor}}
                if cursor
                else None
            )
            result = MaterialItem.by_type.query(
                type_pk, scan_index_forward=False, limit=limit, last_evaluated_key=last_key
            )
        items = list(result)
        next_cursor = items[-1].sk if result.last_evaluated_key and items else None
        return [_from_item(item) for item in items], next_cursor

    def update(self, material_id: str, title: str | None, desc: str | None) -> Material | None:
        """Change a material's title or description; None when there is no such material."""
        item = self._item(material_id)
        if item is None:
            return None
        rules.validate_edit(item.type, title, desc)
        actions = [MaterialItem.updated_at.set(int(self._clock()))]
        if title is not None:
            actions.append(MaterialItem.title.set(title))
        if desc is not None:
            actions.append(MaterialItem.desc.set(desc) if desc else MaterialItem.desc.remove())
        try:
            item.update(actions=actions, condition=MaterialItem.pk.exists())
        except UpdateError as error:
            if is_condition_failure(error):
                return None
            raise
        return _from_item(item)

    def delete(self, material_id: str) -> bool:
        """Remove a material; messages that already resolved it keep their media ids. False when absent."""
        if not rules.MATERIAL_ID_PATTERN.fullmatch(material_id):
            return False
        try:
            MaterialItem(self._pk, material_id).delete(condition=MaterialItem.pk.exists())
        except DeleteError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def items(self, material_ids: list[str]) -> dict[str, MaterialItem]:
        """The stored items of these ids, consistently read; raises MaterialNotFound for all unknown ids at once."""
        malformed = [m for m in material_ids if not rules.MATERIAL_ID_PATTERN.fullmatch(m)]
        found = {
            item.sk: item
            for item in MaterialItem.batch_get(
                [(self._pk, m) for m in material_ids if m not in malformed], consistent_read=True
            )
        }
        missing = [m for m in material_ids if m not in found]
        if missing:
            raise MaterialNotFound(missing)
        return found

    def replace_media(self, item: MaterialItem, upload: MediaUpload) -> None:
        """Keep a renewed media id unless another renewal replaced the one `item` was read with."""
        previous = item.uploaded_at
        try:
            item.update(
                actions=[
                    MaterialItem.media_id.set(upload.media_id),
                    MaterialItem.uploaded_at.set(upload.uploaded_at),
                    MaterialItem.media_bytes.set(upload.size),
                    MaterialItem.media_sha256.set(upload.sha256),
                ],
                condition=MaterialItem.pk.exists()
                & (MaterialItem.uploaded_at.does_not_exist() | (MaterialItem.uploaded_at == previous)),
            )
        except UpdateError as error:
            if not is_condition_failure(error):
                raise

    def record_use(self, message_id: str, material_ids: Iterable[str]) -> int:
        """Count one use of each material by `message_id`, once however often it is recorded; returns new counts."""
        counted = 0
        now = int(self._clock())
        for material_id in dict.fromkeys(material_ids):
            if not rules.MATERIAL_ID_PATTERN.fullmatch(material_id):
                continue
            use = MaterialUseItem(
                pk=self._keys.key("matuse", material_id),
                sk=message_id,
                used_at=now,
                expires_at=now + USE_RETENTION_DAYS * 24 * 3600,
            )
            try:
                with TransactWrite(connection=shared_connection(self._settings)) as tx:
                    tx.save(use, condition=MaterialUseItem.pk.does_not_exist())
                    tx.update(
                        MaterialItem(self._pk, material_id),
                        actions=[MaterialItem.use_count.add(1)],
                        condition=MaterialItem.pk.exists(),
                    )
            except TransactWriteError as error:
                if not error.cancellation_reasons:
                    raise
                continue
            counted += 1
        return counted
