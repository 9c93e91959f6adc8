"""The public intake of beacons and leads (`/t/beacons`, `/t/leads`): check, verify, limit, queue — nothing more.

The request path reads no database on a warm process: the share token is verified with the tenant's cached key ring,
the viewer token likewise, the tenant's page origins come from a short cache, and the per-token and per-IP limits
are counted in-process. Accepted events go to the BEACONS queue as one message per batch, folded in bulk; an open by
an identified customer also goes to BEACON_ALERTS, for the sharer's alert within seconds; leads go there too.
A bad viewer token does not lose the events: they are counted as an anonymous view and the answer says so.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib import queues, resources
from chalicelib.config import get_settings
from chalicelib.domain import beacons, signed_tokens, strict_json
from chalicelib.domain.signed_tokens import InvalidToken, ShareClaims
from chalicelib.domain.ttl_cache import TtlCache
from chalicelib.domain.window_limit import WindowLimit
from chalicelib.services.share_links import open_share, share_keys_of
from chalicelib.store.tracking import TrackingStore

LIMITS_PER_MINUTE = {"token": 600, "session": 30, "ip": 240}
"""Defaults; `BEACON_LIMIT_<TOKEN|SESSION|IP>_PER_MINUTE` override them (a bench playing many readers from one
address)."""
ORIGINS_TTL_SECONDS = 60.0
LEAD_MAX_BYTES = 2048
NAME = re.compile(r"[^\x00-\x1f\x7f]{1,32}")
PHONE = re.compile(r"\+?[0-9][0-9 -]{4,19}")
NOTE_MAX_CHARS = 200
LEAD_FIELDS = frozenset({"share", "viewer", "session", "name", "phone", "note"})

_window_limits: dict[str, WindowLimit] = {}
_origins: TtlCache[str, frozenset[str]] = TtlCache(max_entries=2048)


class IntakeRefused(Exception):
    """A request refused as a whole: its HTTP status and the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Viewer:
    """Who is watching, as far as a valid viewer token says: a customer only with consent."""

    customer: str
    key: str
    consented: bool
    note: str = ""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def allowed_origin(tenant_id: str, origin: str | None) -> bool:
    """No Origin (a mini-program, a server) or the stack's own origin or one the tenant listed."""
    if not origin:
        return True
    if origin == origin_of(get_settings().public_base_url):
        return True
    listed = _origins.get(tenant_id, lambda: (frozenset(TrackingStore(tenant_id).origins()), ORIGINS_TTL_SECONDS))
    return origin in listed


def forget_origins(tenant_id: str) -> None:
    _origins.forget(tenant_id)


def _claims(token: str, now: float) -> ShareClaims:
    try:
        return open_share(token, now)
    except InvalidToken:
        raise IntakeRefused(404, "unknown share link") from None


def _viewer(token: str, claims: ShareClaims, session: str, now: float) -> Viewer:
    anonymous = Viewer("", f"s:{session}", False)
    if not token:
        return anonymous
    try:
        viewer = signed_tokens.verify_viewer(token, share_keys_of, now)
    except InvalidToken:
        return Viewer("", anonymous.key, False, "invalid viewer token: counted as anonymous")
    if viewer.tenant_id != claims.tenant_id:
        return Viewer("", anonymous.key, False, "invalid viewer token: counted as anonymous")
    if not viewer.consented:
        return anonymous
    key = f"c:{viewer.external_userid}" if viewer.external_userid else f"u:{viewer.unionid or viewer.openid}"
    return Viewer(viewer.external_userid, key, True)


def window_limit(kind: str) -> WindowLimit:
    """This process's limit of one kind, made on first use from the defaults or the environment."""
    if kind not in _window_limits:
        variable = f"BEACON_LIMIT_{kind.upper()}_PER_MINUTE"
        _window_limits[kind] = WindowLimit(int(os.environ.get(variable) or LIMITS_PER_MINUTE[kind]), 60)
    return _window_limits[kind]


def _limit(share: str, session: str, source_ip: str, now: float) -> None:
    if not window_limit("ip").admit(source_ip or "unknown", now):
        raise IntakeRefused(429, "too many requests from this address")
    if not window_limit("token").admit(share, now) or not window_limit("session").admit(f"{share}\n{session}", now):
        raise IntakeRefused(429, "too many requests for this link")


def _parse(raw: bytes, max_bytes: int) -> Any:
    if len(raw) > max_bytes:
        raise IntakeRefused(413, f"the body is over {max_bytes} bytes")
    try:
        return strict_json.loads(raw)
    except strict_json.InvalidJson as error:
        raise IntakeRefused(400, f"the body is not acceptable JSON: {error}") from None


def accept_beacons(raw: bytes, origin: str | None, source_ip: str, now: float | None = None) -> dict[str, Any]:
    """Check a beacon batch and queue its good events; the answer {"accepted", "rejected"[, "viewer"]}."""
    now = time.time() if now is None else now
    body = _parse(raw, beacons.MAX_BATCH_BYTES)
    try:
        batch = beacons.check_batch(body, int(now * 1000))
    except beacons.BadBatch as error:
        raise IntakeRefused(400, str(error)) from None
    claims = _claims(batch.share, now)
    if not allowed_origin(claims.tenant_id, origin):
        raise IntakeRefused(403, "this origin may not send beacons for this tenant")
    _limit(batch.share, batch.session, source_ip, now)
    viewer = _viewer(batch.viewer, claims, batch.session, now)
    if batch.events:
        message = {
            "kind": "beacons",
            "tenant_id": claims.tenant_id,
            "view_id": beacons.view_id(batch.share, batch.session),
            "material_id": claims.material_id,
            "sharer": claims.sharer,
            "campaign": claims.campaign,
            "session": batch.session,
            "customer": viewer.customer,
            "viewer_key": viewer.key,
            "consented": viewer.consented,
            "received_ms": int(now * 1000),
            "events": [[e.seq, e.type, e.at, e.visible_ms, e.depth, e.action] for e in batch.events],
        }
        queues.publish(resources.BEACONS, message, tenant_id=claims.tenant_id)
        if viewer.customer and any(e.type == beacons.OPEN for e in batch.events):
            opened = {name: message[name] for name in ("tenant_id", "view_id", "material_id", "sharer", "customer")}
            queues.publish(resources.BEACON_ALERTS, {"kind": "open", **opened}, tenant_id=claims.tenant_id)
    answer: dict[str, Any] = {"accepted": len(batch.events), "rejected": list(batch.rejected)}
    if viewer.note:
        answer["viewer"] = viewer.note
    return answer


def accept_lead(raw: bytes, origin: str | None, source_ip: str, now: float | None = None) -> dict[str, Any]:
    """Check a "leave my contact" form and queue it; the answer {"accepted": true}."""
    now = time.time() if now is None else now
    body = _parse(raw, LEAD_MAX_BYTES)
    if not isinstance(body, dict) or set(body) - LEAD_FIELDS:
        raise IntakeRefused(400, f"the body must be an object with only {', '.join(sorted(LEAD_FIELDS))}")
    share, session = body.get("share"), body.get("session")
    name, phone, note = body.get("name"), body.get("phone"), body.get("note", "") or ""
    viewer_token = body.get("viewer") or ""
    if not isinstance(share, str) or not isinstance(viewer_token, str):
        raise IntakeRefused(400, "'share' and 'viewer' must be tokens")
    if not isinstance(session, str) or not beacons.SESSION.fullmatch(session):
        raise IntakeRefused(400, "'session' must be 8 to 64 of A-Z a-z 0-9 _ -")
    if not isinstance(name, str) or not NAME.fullmatch(name.strip()):
        raise IntakeRefused(400, "'name' must be 1 to 32 characters on one line")
    if not isinstance(phone, str) or not PHONE.fullmatch(phone.strip()):
        raise IntakeRefused(400, "'phone' must be a phone number")
    if not isinstance(note, str) or len(note) > NOTE_MAX_CHARS or not NAME.fullmatch(note or "x"):
        raise IntakeRefused(400, f"'note' must be at most {NOTE_MAX_CHARS} characters on one line")
    claims = _claims(share, now)
    if not allowed_origin(claims.tenant_id, origin):
        raise IntakeRefused(403, "this origin may not send leads for this tenant")
    _limit(share, session, source_ip, now)
    viewer = _viewer(viewer_token, claims, session, now)
    lead_id = hashlib.sha256(f"{share}\n{session}\n{phone.strip()}".encode()).hexdigest()[:24]
    message = {
        "kind": "lead",
        "tenant_id": claims.tenant_id,
        "lead_id": lead_id,
        "material_id": claims.material_id,
        "sharer": claims.sharer,
        "campaign": claims.campaign,
        "session": session,
        "customer": viewer.customer,
        "name": name.strip(),
        "phone": phone.strip(),
        "note": note.strip(),
        "received_ms": int(now * 1000),
    }
    queues.publish(resources.BEACON_ALERTS, message, tenant_id=claims.tenant_id)
    return {"accepted": True}
