"""Compact signed tokens for share links, page viewers and the sales view, verified without a database read.

A token is `<kind>.<key version>.<payload>.<mac>`: the payload is the claims as compact JSON in unpadded base64url,
the mac an HMAC-SHA256 (first 16 bytes, base64url) over everything before it, keyed by one of the tenant's share
keys. The tenant id travels in the claims and picks the key set, so a token signed for one tenant never verifies
for another (its key differs) and altering any byte breaks the mac. Keys are versioned: signing uses the newest,
verifying accepts every version the tenant still holds, so a rotation invalidates old links only when the old
version is dropped.

The sales view uses three more kinds: the link an alert card carries (tenant, customer, the sharer it was made for),
an employee's session after WeCom's web OAuth, and the nonce that binds one OAuth round trip to the browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

SHARE = "s"
VIEWER = "v"
SALES_LINK = "c"
STAFF_SESSION = "e"
OAUTH_NONCE = "n"
KINDS = (SHARE, VIEWER, SALES_LINK, STAFF_SESSION, OAUTH_NONCE)
MAC_BYTES = 16
MAX_TOKEN_LENGTH = 600
SHARE_LIFETIME_SECONDS = 180 * 24 * 3600
VIEWER_LIFETIME_SECONDS = 2 * 3600
SALES_LINK_LIFETIME_SECONDS = 90 * 24 * 3600
STAFF_SESSION_LIFETIME_SECONDS = 8 * 3600
OAUTH_NONCE_LIFETIME_SECONDS = 600
CLOCK_SKEW_SECONDS = 300
_TOKEN = re.compile(
    r"(?P<kind>[a-z])\.(?P<version>[0-9]{1,6})\.(?P<payload>[A-Za-z0-9_-]{4,})\.(?P<mac>[A-Za-z0-9_-]{22})"
)


class InvalidToken(ValueError):
    """Forged, altered, expired, unknown-key or malformed: callers answer all of them the same way (404/401)."""


@dataclass(frozen=True)
class ShareClaims:
    """Who shared which material, for which campaign (a mass message id, a channel id, or empty), and when."""

    KIND: ClassVar[str] = SHARE
    tenant_id: str
    material_id: str
    sharer: str
    campaign: str
    issued_at: int

    def to_payload(self) -> dict[str, Any]:
        return {"t": self.tenant_id, "m": self.material_id, "s": self.sharer, "c": self.campaign, "i": self.issued_at}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ShareClaims:
        return cls(
            tenant_id=_text(payload, "t"),
            material_id=_text(payload, "m"),
            sharer=_text(payload, "s"),
            campaign=_text(payload, "c", allow_empty=True),
            issued_at=_number(payload, "i"),
        )

    def expires_at(self) -> int:
        return self.issued_at + SHARE_LIFETIME_SECONDS


@dataclass(frozen=True)
class ViewerClaims:
    """A page viewer as identified by WeChat: openid/unionid, the tenant's customer when known, and consent."""

    KIND: ClassVar[str] = VIEWER
    tenant_id: str
    openid: str
    unionid: str
    external_userid: str
    consented: bool
    issued_at: int

    def to_payload(self) -> dict[str, Any]:
        return {
            "t": self.tenant_id,
            "o": self.openid,
            "u": self.unionid,
            "x": self.external_userid,
            "ok": 1 if self.consented else 0,
            "i": self.issued_at,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ViewerClaims:
        return cls(
            tenant_id=_text(payload, "t"),
            openid=_text(payload, "o", allow_empty=True),
            unionid=_text(payload, "u", allow_empty=True),
            external_userid=_text(payload, "x", allow_empty=True),
            consented=_number(payload, "ok") == 1,
            issued_at=_number(payload, "i"),
        )

    def expires_at(self) -> int:
        return self.issued_at + VIEWER_LIFETIME_SECONDS


@dataclass(frozen=True)
class SalesLinkClaims:
    """The link of an alert card: one customer of the tenant, for the employee the alert was sent to; no customer
    (empty) for a card about several or none (a digest, an anonymous lead): the employee's own page."""

    KIND: ClassVar[str] = SALES_LINK
    tenant_id: str
    customer: str
    sharer: str
    issued_at: int

    def to_payload(self) -> dict[str, Any]:
        return {"t": self.tenant_id, "x": self.customer, "s": self.sharer, "i": self.issued_at}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SalesLinkClaims:
        return cls(
            _text(payload, "t"), _text(payload, "x", allow_empty=True), _text(payload, "s"), _number(payload, "i")
        )

    def expires_at(self) -> int:
        return self.issued_at + SALES_LINK_LIFETIME_SECONDS


@dataclass(frozen=True)
class StaffSessionClaims:
    """An employee of the tenant, as WeCom's web OAuth named them."""

    KIND: ClassVar[str] = STAFF_SESSION
    tenant_id: str
    userid: str
    issued_at: int

    def to_payload(self) -> dict[str, Any]:
        return {"t": self.tenant_id, "u": self.userid, "i": self.issued_at}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> StaffSessionClaims:
        return cls(_text(payload, "t"), _text(payload, "u"), _number(payload, "i"))

    def expires_at(self) -> int:
        return self.issued_at + STAFF_SESSION_LIFETIME_SECONDS


@dataclass(frozen=True)
class OAuthNonceClaims:
    """The nonce one OAuth round trip carries as its `state`, kept by the browser that started it."""

    KIND: ClassVar[str] = OAUTH_NONCE
    tenant_id: str
    nonce: str
    issued_at: int

    def to_payload(self) -> dict[str, Any]:
        return {"t": self.tenant_id, "n": self.nonce, "i": self.issued_at}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> OAuthNonceClaims:
        return cls(_text(payload, "t"), _text(payload, "n"), _number(payload, "i"))

    def expires_at(self) -> int:
        return self.issued_at + OAUTH_NONCE_LIFETIME_SECONDS


Claims = ShareClaims | ViewerClaims | SalesLinkClaims | StaffSessionClaims | OAuthNonceClaims
C = TypeVar("C", ShareClaims, ViewerClaims, SalesLinkClaims, StaffSessionClaims, OAuthNonceClaims)

KeyRing = Mapping[int, bytes]
"""A tenant's share keys by version; the highest version signs."""


def sign(claims: Claims, keys: KeyRing) -> str:
    """The token for these claims, signed with the tenant's newest key."""
    if not keys:
        raise ValueError("the tenant has no share key")
    version = max(keys)
    kind = claims.KIND
    body = json.dumps(claims.to_payload(), separators=(",", ":"), ensure_ascii=False).encode()
    signed = f"{kind}.{version}.{_b64(body)}"
    token = f"{signed}.{_b64(_mac(keys[version], signed))}"
    if len(token) > MAX_TOKEN_LENGTH:
        raise ValueError("claims too long for a token")
    return token


def tenant_of(token: str) -> str:
    """The tenant a well-formed token names (unverified: only to pick the key ring to verify it with)."""
    match = _match(token)
    return _text(_payload(match), "t")


def verify(token: str, kind: type[C], keys_of: Callable[[str], KeyRing], now: float) -> C:
    """The claims of a genuine, unexpired token of this kind; InvalidToken otherwise."""
    claims = kind.from_payload(_verified(token, kind.KIND, keys_of))
    if not claims.issued_at - CLOCK_SKEW_SECONDS <= now < claims.expires_at():
        raise InvalidToken("expired or issued in the future")
    return claims


def verify_share(token: str, keys_of: Callable[[str], KeyRing], now: float) -> ShareClaims:
    """The claims of a genuine, unexpired share token; InvalidToken otherwise."""
    return verify(token, ShareClaims, keys_of, now)


def verify_viewer(token: str, keys_of: Callable[[str], KeyRing], now: float) -> ViewerClaims:
    """The claims of a genuine, unexpired viewer token; InvalidToken otherwise."""
    return verify(token, ViewerClaims, keys_of, now)


def _verified(token: str, kind: str, keys_of: Callable[[str], KeyRing]) -> dict[str, Any]:
    match = _match(token)
    if match["kind"] != kind:
        raise InvalidToken("wrong kind of token")
    payload = _payload(match)
    key = keys_of(_text(payload, "t")).get(int(match["version"]))
    if key is None:
        raise InvalidToken("unknown key version")
    signed = token[: match.start("mac") - 1]
    if not hmac.compare_digest(_b64(_mac(key, signed)), match["mac"]):
        raise InvalidToken("bad signature")
    return payload


def _match(token: str) -> re.Match[str]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed")
    match = _TOKEN.fullmatch(token)
    if match is None or match["kind"] not in KINDS:
        raise InvalidToken("malformed")
    return match


def _payload(match: re.Match[str]) -> dict[str, Any]:
    encoded = match["payload"]
    try:
        payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidToken("malformed") from error
    if not isinstance(payload, dict):
        raise InvalidToken("malformed")
    return payload


def _text(payload: dict[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not (value or allow_empty):
        raise InvalidToken("malformed")
    return value


def _number(payload: dict[str, Any], name: str) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidToken("malformed")
    return value


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, signed.encode(), hashlib.sha256).digest()[:MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
