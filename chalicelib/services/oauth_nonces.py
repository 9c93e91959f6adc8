"""The nonce that binds an OAuth round trip to the browser that started it (against login CSRF: a code obtained
elsewhere planted in someone's browser). The `state` sent to WeChat or WeCom carries a fresh random nonce (hex: both
accept only letters and digits there), and the browser keeps the same nonce in a short-lived cookie signed with the
tenant's share keys; a return is honoured only when its state brings that browser's nonce. Used by the share pages'
WeChat OAuth and the sales view's WeCom OAuth, each with its own cookie name and path."""

from __future__ import annotations

import hmac
import secrets

from chalicelib.domain import signed_tokens
from chalicelib.domain.signed_tokens import InvalidToken, OAuthNonceClaims
from chalicelib.services import share_links

NONCE_BYTES = 16


def issue(tenant_id: str, now: float) -> tuple[str, str]:
    """A fresh nonce for the `state`, and the signed value of the cookie that keeps it."""
    nonce = secrets.token_hex(NONCE_BYTES)
    kept = signed_tokens.sign(OAuthNonceClaims(tenant_id, nonce, int(now)), share_links.signing_keys(tenant_id))
    return nonce, kept


def matches(cookie_value: str, tenant_id: str, returned: str, now: float) -> bool:
    """Whether `returned` (the nonce a return brought) is the one this browser's cookie keeps for the tenant."""
    if not cookie_value or not returned:
        return False
    try:
        claims = signed_tokens.verify(cookie_value, OAuthNonceClaims, share_links.share_keys_of, now)
    except InvalidToken:
        return False
    return claims.tenant_id == tenant_id and hmac.compare_digest(claims.nonce.encode(), returned.encode())
