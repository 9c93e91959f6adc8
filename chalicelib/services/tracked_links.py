"""Per-sender tracked links inside mass messages and welcome messages.

A link attachment whose URL is a tracked material's link (`PUT /v1/materials/{id}/tracking` with `tracked`) is sent
as a share link made for its sender and campaign (the mass message id, or the channel's id), so a click is credited
to the employee who sent it and to that mass message or channel. Signing costs no database read on a warm process;
the tenant's tracked links are read once per LOOKUP_TTL_SECONDS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.domain.materials import InvalidMaterial
from chalicelib.domain.ttl_cache import TtlCache
from chalicelib.services.share_links import create_share
from chalicelib.store.materials import MaterialStore
from chalicelib.store.tracking import TrackingStore, UnknownSubject

LOOKUP_TTL_SECONDS = 60.0
_tracked: TtlCache[str, dict[str, str]] = TtlCache(max_entries=2048)


def forget_tracked() -> None:
    _tracked.forget()


def set_material_tracking(
    tenant_id: str, material_id: str, auto_tag_ids: Iterable[str], tracked: bool
) -> dict[str, Any]:
    """Whether a material's link is sent per sender (a link material only) and which tags a view of it puts on the
    customer; this process forgets the tracked links it read, others within LOOKUP_TTL_SECONDS. Returns the setting
    as stored."""
    material = MaterialStore(tenant_id).get(material_id)
    if material is None:
        raise UnknownSubject("no such material")
    if tracked and not (material.type == "link" and material.url):
        raise InvalidMaterial(["only a link material can be tracked per sender"])
    store = TrackingStore(tenant_id)
    store.put_material_tracking(material_id, list(auto_tag_ids), material.url if tracked else None)
    forget_tracked()
    return store.material_tracking(material_id)


def per_sender(
    tenant_id: str, attachments: Iterable[Mapping[str, Any]], sender: str, campaign: str
) -> list[dict[str, Any]]:
    """The attachments with each tracked link replaced by a share link for this sender and campaign."""
    attachments = [dict(a) for a in attachments]
    if not any(a.get("msgtype") == "link" for a in attachments):
        return attachments
    tracked = _tracked.get(tenant_id, lambda: (TrackingStore(tenant_id).tracked_urls(), LOOKUP_TTL_SECONDS))
    for attachment in attachments:
        link = attachment.get("link")
        if attachment.get("msgtype") != "link" or not isinstance(link, Mapping):
            continue
        material_id = tracked.get(str(link.get("url", "")))
        if material_id is not None:
            _, url = create_share(tenant_id, material_id, sender, campaign)
            attachment["link"] = {**link, "url": url}
    return attachments
