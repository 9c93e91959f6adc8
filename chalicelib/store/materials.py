"""A tenant's material library (data table), and `resolve_attachments` for mass and welcome messages.

| item | pk | sk | index keys |
|---|---|---|---|
| material | `<t>#material` | `<material_id>` | gsi1 `<t>#material#<type>` / `<material_id>` |
| one message's use of it | `<t>#matuse#<material_id>` | `<message_id>` | (expires after `USE_RETENTION_DAYS`) |

Material ids are 20 hex digits that begin with the creation time, so a Query newest-first is a list newest-first,
and listing one kind is a Query of gsi1. Bytes are not stored here: an image, video, file or mini-program cover is
fetched from the admin's https `source_url` when created (checked, then uploaded with media/upload) and fetched again
when its 3-day media id must be renewed, lazily, when `resolve_attachments` hands it out for a send. Concurrent
renewals are harmless: each makes a valid media id and the conditional write keeps one of them.

Other parts call `resolve_attachments(tenant_id, refs)` just before add_msg_template or send_welcome_msg, and
`record_use(tenant_id, message_id, refs)` once a message exists (idempotent per message), which counts uses.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import resources
from chalicelib.config import get_settings
from chalicelib.domain import materials as rules
from chalicelib.domain.broadcast_content import InvalidContent, validate_content
from chalicelib.observability import logger
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table, shared_connection
from chalicelib.store.tenants import get_app_credentials
from chalicelib.store.tokens import process_access_tokens
from chalicelib.wecom import errors as wecom_errors

if TYPE_CHECKING:
    import httpx

    from chalicelib.wecom.client import WeComClient

MATERIAL_ID_PATTERN = re.compile(r"^[0-9a-f]{20}$")
MEDIA_UPLOAD_API = "media/upload"
USE_RETENTION_DAYS = 400
FETCH_TIMEOUT_SECONDS = 10.0
FETCH_CHUNK_BYTES = 64 * 1024


class MaterialNotFound(LookupError):
    """Material ids that this tenant does not have (never says whether another tenant has them)."""

    def __init__(self, material_ids: list[str]) -> None:
        super().__init__(f"no such material: {', '.join(material_ids)}")
        self.material_ids = material_ids


class SourceUnavailable(Exception):
    """The material's source URL could not be fetched (status, redirect, timeout, size)."""


class MaterialUnavailable(Exception):
    """A material's media id expired and could not be renewed from its source."""

    def __init__(self, material_id: str, reason: str) -> None:
        super().__init__(f"material {material_id} cannot be sent: {reason}")
        self.material_id = material_id
        self.reason = reason


class NoWeComApp(Exception):
    """The tenant has no WeCom app credentials, so nothing can be uploaded."""


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
    )


def new_material_id(now: float) -> str:
    """Creation time in milliseconds (12 hex digits) then 8 random hex digits: sorts by creation."""
    return f"{int(now * 1000):012x}{secrets.token_hex(4)}"


_source_http: httpx.Client | None = None
_source_http_mutex = threading.Lock()


def source_http() -> httpx.Client:
    """The process's client for fetching source URLs: no redirects followed, bounded timeouts."""
    global _source_http
    import httpx  # imported on first use: listing materials or resolving fresh ones never pays for it

    with _source_http_mutex:
        if _source_http is None:
            _source_http = httpx.Client(follow_redirects=False, timeout=httpx.Timeout(FETCH_TIMEOUT_SECONDS))
        return _source_http


def fetch_source(http: httpx.Client, url: str, max_bytes: int) -> tuple[bytes, str]:
    """The bytes at `url` (an https URL already checked) and a file name for them; at most `max_bytes`."""
    import httpx

    try:
        with http.stream("GET", url) as response:
            if response.is_redirect:
                raise SourceUnavailable(f"source_url redirects (HTTP {response.status_code}); give the final URL")
            if response.status_code != httpx.codes.OK:
                raise SourceUnavailable(f"source_url answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise SourceUnavailable(f"source_url has {declared} bytes, over the limit of {max_bytes}")
            data = bytearray()
            for chunk in response.iter_bytes(FETCH_CHUNK_BYTES):
                data += chunk
                if len(data) > max_bytes:
                    raise SourceUnavailable(f"source_url has more than {max_bytes} bytes")
    except httpx.HTTPError as error:
        raise SourceUnavailable(f"source_url could not be fetched ({type(error).__name__})") from None
    return bytes(data), unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def tenant_wecom(tenant_id: str) -> WeComClient:
    """A WeCom client acting as the tenant's app, sharing the process's access tokens."""
    from chalicelib.wecom.client import WeComClient

    if get_app_credentials(tenant_id) is None:
        raise NoWeComApp(tenant_id)
    settings = get_settings()
    return WeComClient(lambda: get_app_credentials(tenant_id), process_access_tokens(settings), settings)


@dataclass(frozen=True)
class _Upload:
    media_id: str
    uploaded_at: int
    size: int
    sha256: str


class MaterialLibrary:
    """One tenant's materials; it cannot read or write another tenant's."""

    def __init__(
        self,
        tenant_id: str,
        *,
        wecom: Callable[[], WeComClient] | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenant_id = tenant_id
        self._keys = TenantKeys(tenant_id)
        self._pk = self._keys.key("material")
        self._wecom = wecom or (lambda: tenant_wecom(tenant_id))
        self._http = http
        self._clock = clock
        self._settings = bind_models()

    def create(self, spec: rules.MaterialSpec) -> Material:
        """Check, fetch and upload (for kinds with bytes), then store; raises InvalidMaterial, SourceUnavailable,
        NoWeComApp or WeCom's typed errors."""
        rules.validate_spec(spec)
        now = self._clock()
        upload = self._upload(spec.type, spec.source_url) if spec.type in rules.UPLOADED_TYPES else None
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
        if not MATERIAL_ID_PATTERN.match(material_id):
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
        if cursor is not None and not MATERIAL_ID_PATTERN.match(cursor):
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
        if not MATERIAL_ID_PATTERN.match(material_id):
            return False
        try:
            MaterialItem(self._pk, material_id).delete(condition=MaterialItem.pk.exists())
        except DeleteError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def attachments(self, material_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """WeCom attachments for these materials, renewing media ids that are due; raises MaterialNotFound for all
        unknown ids at once."""
        wanted = list(dict.fromkeys(material_ids))
        malformed = [m for m in wanted if not MATERIAL_ID_PATTERN.match(m)]
        found = {
            item.sk: item
            for item in MaterialItem.batch_get(
                [(self._pk, m) for m in wanted if m not in malformed], consistent_read=True
            )
        }
        missing = [m for m in wanted if m not in found]
        if missing:
            raise MaterialNotFound(missing)
        now = self._clock()
        out: dict[str, dict[str, Any]] = {}
        for material_id in wanted:
            item = found[material_id]
            media_id = self._current_media_id(item, now) if item.type in rules.UPLOADED_TYPES else None
            out[material_id] = rules.attachment(
                item.type,
                {"title": item.title, "url": item.url, "desc": item.desc, "picurl": item.picurl}
                | {"appid": item.appid, "page": item.page},
                media_id,
            )
        return out

    def record_use(self, message_id: str, material_ids: Iterable[str]) -> int:
        """Count one use of each material by `message_id`, once however often it is recorded; returns new counts."""
        counted = 0
        now = int(self._clock())
        for material_id in dict.fromkeys(material_ids):
            if not MATERIAL_ID_PATTERN.match(material_id):
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

    def _current_media_id(self, item: MaterialItem, now: float) -> str:
        """The stored media id, or a renewed one when it is due; the old one as a last resort if renewal fails."""
        if not rules.needs_upload(item.uploaded_at, now):
            return item.media_id
        try:
            upload = self._upload(item.type, item.source_url)
        except (
            rules.InvalidMaterial,
            SourceUnavailable,
            wecom_errors.WeComError,
            wecom_errors.WeComUnavailable,
        ) as err:
            if item.media_id and rules.usable_as_last_resort(item.uploaded_at, now):
                logger.warning("material renewal failed; old media id used", extra={"material_id": item.sk})
                return item.media_id
            if isinstance(err, rules.InvalidMaterial | SourceUnavailable):
                raise MaterialUnavailable(item.sk, str(err)) from None
            raise
        if item.media_sha256 and upload.sha256 != item.media_sha256:
            logger.info("material source changed since the last upload", extra={"material_id": item.sk})
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
        return upload.media_id

    def _upload(self, kind: str, source_url: str | None) -> _Upload:
        """Fetch the source, check it for `kind`, upload it as temporary media."""
        if not source_url:
            raise rules.InvalidMaterial(["source_url: required"])
        uploaded_at = int(self._clock())
        http = self._http or source_http()
        data, filename = fetch_source(http, source_url, rules.MAX_BYTES[rules.media_type(kind)])
        checked = rules.check_media(kind, data, filename)
        answer = self._wecom().upload(
            MEDIA_UPLOAD_API,
            {"type": checked.media_type},
            {"media": (checked.filename, data, checked.content_type)},
        )
        return _Upload(str(answer["media_id"]), uploaded_at, checked.size, hashlib.sha256(data).hexdigest())


def _split_refs(refs: list[Mapping[str, Any]]) -> list[str]:
    """The material ids among `refs`; raises InvalidContent for refs that are neither a material nor inline."""
    problems: list[str] = []
    ids: list[str] = []
    for index, ref in enumerate(refs):
        if not isinstance(ref, Mapping):
            problems.append(f"attachments[{index}]: must be an object")
        elif "material_id" in ref:
            if set(ref) != {"material_id"} or not isinstance(ref["material_id"], str):
                problems.append(f"attachments[{index}]: a material reference is {{'material_id': '<id>'}} only")
            else:
                ids.append(ref["material_id"])
        elif "msgtype" not in ref:
            problems.append(f"attachments[{index}]: give material_id or an inline attachment with msgtype")
    if problems:
        raise InvalidContent(problems)
    return ids


def resolve_attachments(
    tenant_id: str, refs: list[Mapping[str, Any]], *, library: MaterialLibrary | None = None
) -> list[dict[str, Any]]:
    """Turn `[{"material_id": ...} | inline attachment, ...]` into WeCom attachments, in order, valid for
    add_msg_template and send_welcome_msg; media ids are fresh for at least `REFRESH_MARGIN_SECONDS`.

    Raises MaterialNotFound (every unknown id), InvalidContent (bad or too many inline attachments),
    MaterialUnavailable (a media id expired and its source is gone), NoWeComApp, or WeCom's typed errors.
    """
    if not refs:
        return []
    ids = _split_refs(refs)
    resolved = (library or MaterialLibrary(tenant_id)).attachments(ids) if ids else {}
    attachments = [dict(resolved[ref["material_id"]]) if "material_id" in ref else dict(ref) for ref in refs]
    return [dict(a) for a in validate_content({"attachments": attachments}).attachments]


def record_use(tenant_id: str, message_id: str, refs: list[Mapping[str, Any]]) -> int:
    """Count `message_id`'s use of the materials among `refs` (idempotent); returns how many were newly counted."""
    ids = [ref["material_id"] for ref in refs if isinstance(ref, Mapping) and isinstance(ref.get("material_id"), str)]
    return MaterialLibrary(tenant_id).record_use(message_id, ids) if ids else 0
