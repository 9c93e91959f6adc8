"""Materials with their media: sources fetched and uploaded to WeCom when created, media ids renewed when due, and
`resolve_attachments` / `record_use` for mass and welcome messages.

Bytes are not stored: an image, video, file or mini-program cover is fetched from the admin's https `source_url`
when created (checked, then uploaded with media/upload) and fetched again when its 3-day media id must be renewed,
lazily, when `resolve_attachments` hands it out for a send. Other parts call `resolve_attachments(tenant_id, refs)`
just before add_msg_template or send_welcome_msg, and `record_use(tenant_id, message_id, refs)` once a message
exists (idempotent per message), which counts uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from chalicelib.domain import materials as rules
from chalicelib.domain.broadcast_content import InvalidContent, validate_content
from chalicelib.observability import logger
from chalicelib.services.tenant_wecom import has_credentials, tenant_wecom
from chalicelib.store.materials import Material, MaterialItem, MaterialStore, MediaUpload
from chalicelib.wecom import errors as wecom_errors

if TYPE_CHECKING:
    import httpx

    from chalicelib.wecom.client import WeComClient

MEDIA_UPLOAD_API = "media/upload"
MEDIA_UPLOAD_ATTACHMENT_API = "media/upload_attachment"
MOMENT_ATTACHMENT_TYPE = 1
MOMENT_MATERIAL_TYPES = (rules.IMAGE, rules.VIDEO, rules.LINK)
FETCH_TIMEOUT_SECONDS = 10.0
FETCH_CHUNK_BYTES = 64 * 1024


class MaterialUnavailable(Exception):
    """A material's media id expired and could not be renewed from its source."""

    def __init__(self, material_id: str, reason: str) -> None:
        super().__init__(f"material {material_id} cannot be sent: {reason}")
        self.material_id = material_id
        self.reason = reason


_source_http: httpx.Client | None = None
_source_http_mutex = threading.Lock()


def source_http() -> httpx.Client:
    """The process's client for fetching source URLs: public addresses only (`public_fetch`), no redirects followed,
    bounded timeouts."""
    global _source_http
    from chalicelib.services.public_fetch import public_client  # httpx on first use: listing never pays for it

    with _source_http_mutex:
        if _source_http is None:
            _source_http = public_client(timeout=FETCH_TIMEOUT_SECONDS)
        return _source_http


def fetch_source(http: httpx.Client, url: str, max_bytes: int) -> tuple[bytes, str]:
    """The bytes at `url` (an https URL already checked) and a file name for them; at most `max_bytes`.

    Raises InvalidMaterial for a URL that cannot be fetched as given or whose host is not public, SourceUnavailable
    for the rest; neither message says more about the target than the admin gave."""
    import httpx

    from chalicelib.services.public_fetch import AddressRefused, HostUnreachable

    try:
        request = http.build_request("GET", url)  # every URL problem, IDNA included, surfaces here
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    except (httpx.InvalidURL, ValueError):
        raise rules.InvalidMaterial(["source_url: not a valid URL"]) from None
    try:
        with contextlib.closing(http.send(request, stream=True)) as response:
            if response.is_redirect:
                raise rules.SourceUnavailable(f"source_url redirects (HTTP {response.status_code}); give the final URL")
            if response.status_code != httpx.codes.OK:
                raise rules.SourceUnavailable(f"source_url answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
                raise rules.SourceUnavailable(f"source_url has {declared} bytes, over the limit of {max_bytes}")
            data = bytearray()
            for chunk in response.iter_bytes(FETCH_CHUNK_BYTES):
                data += chunk
                if len(data) > max_bytes:
                    raise rules.SourceUnavailable(f"source_url has more than {max_bytes} bytes")
    except AddressRefused:
        raise rules.InvalidMaterial(["source_url refused: not a public address"]) from None
    except HostUnreachable:
        raise rules.SourceUnavailable("source_url unreachable") from None
    except httpx.HTTPError as error:
        raise rules.SourceUnavailable(f"source_url could not be fetched ({type(error).__name__})") from None
    return bytes(data), filename


def tenant_app(tenant_id: str) -> WeComClient:
    """The tenant's WeCom app client; AppNotConfigured when the tenant has no app credentials."""
    if not has_credentials(tenant_id):
        raise wecom_errors.AppNotConfigured(tenant_id)
    return tenant_wecom(tenant_id)


class MaterialLibrary(MaterialStore):
    """One tenant's materials with their WeCom media; it cannot read or write another tenant's."""

    def __init__(
        self,
        tenant_id: str,
        *,
        wecom: Callable[[], WeComClient] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(tenant_id, clock=clock)
        self._wecom = wecom or (lambda: tenant_app(tenant_id))

    def create(self, spec: rules.MaterialSpec) -> Material:
        """Check, fetch and upload (for kinds with bytes), then store; raises InvalidMaterial, SourceUnavailable,
        AppNotConfigured or WeCom's typed errors."""
        rules.validate_spec(spec)
        now = self._clock()
        upload = self._upload(spec.type, spec.source_url) if spec.type in rules.UPLOADED_TYPES else None
        return self.put(spec, upload, now)

    def attachments(self, material_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """WeCom attachments for these materials, renewing media ids that are due; raises MaterialNotFound for all
        unknown ids at once."""
        wanted = list(dict.fromkeys(material_ids))
        found = self.items(wanted)
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

    def moment_attachments(self, material_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Moment attachments for these materials, in order: a link as it is; an image or video fetched from its
        source and uploaded with `media/upload_attachment` (attachment_type 1), the only media moments accept.
        Raises MaterialNotFound for all unknown ids at once, InvalidContent for kinds a moment cannot carry."""
        wanted = list(dict.fromkeys(material_ids))
        found = self.items(wanted)
        wrong = [m for m in wanted if found[m].type not in MOMENT_MATERIAL_TYPES]
        if wrong:
            raise InvalidContent([f"material {m}: a moment takes image, video or link materials" for m in wrong])
        out: list[dict[str, Any]] = []
        for material_id in wanted:
            item = found[material_id]
            if item.type == rules.LINK:
                out.append({"msgtype": rules.LINK, rules.LINK: {"title": item.title, "url": item.url}})
                continue
            if not item.source_url:
                raise MaterialUnavailable(material_id, "no source to upload")
            data, filename = fetch_source(source_http(), item.source_url, rules.MAX_BYTES[item.type])
            checked = rules.check_media(item.type, data, filename)
            answer = self._wecom().upload(
                MEDIA_UPLOAD_ATTACHMENT_API,
                {"media_type": checked.media_type, "attachment_type": MOMENT_ATTACHMENT_TYPE},
                {"media": (checked.filename, data, checked.content_type)},
            )
            out.append({"msgtype": item.type, item.type: {"media_id": str(answer["media_id"])}})
        return out

    def _current_media_id(self, item: MaterialItem, now: float) -> str:
        """The stored media id, or a renewed one when it is due; the old one as a last resort if renewal fails."""
        if not rules.needs_upload(item.uploaded_at, now):
            return item.media_id
        try:
            upload = self._upload(item.type, item.source_url)
        except (
            rules.InvalidMaterial,
            rules.SourceUnavailable,
            wecom_errors.WeComError,
            wecom_errors.WeComUnavailable,
        ) as err:
            if item.media_id and rules.usable_as_last_resort(item.uploaded_at, now):
                logger.warning("material renewal failed; old media id used", extra={"material_id": item.sk})
                return item.media_id
            if isinstance(err, rules.InvalidMaterial | rules.SourceUnavailable):
                raise MaterialUnavailable(item.sk, str(err)) from None
            raise
        if item.media_sha256 and upload.sha256 != item.media_sha256:
            logger.info("material source changed since the last upload", extra={"material_id": item.sk})
        self.replace_media(item, upload)
        return upload.media_id

    def _upload(self, kind: str, source_url: str | None) -> MediaUpload:
        """Fetch the source, check it for `kind`, upload it as temporary media."""
        if not source_url:
            raise rules.InvalidMaterial(["source_url: required"])
        uploaded_at = int(self._clock())
        data, filename = fetch_source(source_http(), source_url, rules.MAX_BYTES[rules.media_type(kind)])
        checked = rules.check_media(kind, data, filename)
        answer = self._wecom().upload(
            MEDIA_UPLOAD_API,
            {"type": checked.media_type},
            {"media": (checked.filename, data, checked.content_type)},
        )
        return MediaUpload(str(answer["media_id"]), uploaded_at, checked.size, hashlib.sha256(data).hexdigest())


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
    MaterialUnavailable (a media id expired and its source is gone), AppNotConfigured, or WeCom's typed errors.
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
