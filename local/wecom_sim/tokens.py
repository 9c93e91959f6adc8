"""access_token issue and check: per (corpid, secret), expiring after the configured TTL."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from . import errors


@dataclass(slots=True)
class IssuedToken:
    corpid: str
    expires_at: float


class TokenStore:
    """Issued tokens; an expired token answers 42001, an unknown one 40014."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, corpid: str, now: float) -> str:
        token = secrets.token_urlsafe(96)
        self._tokens[token] = IssuedToken(corpid, now + self.ttl)
        return token

    def check(self, token: str, now: float) -> tuple[str, int]:
        """(corpid or "" when unknown, errcode): 41001 missing, 40014 unknown, 42001 expired, 0 valid."""
        if not token:
            return "", errors.TOKEN_MISSING
        issued = self._tokens.get(token)
        if issued is None:
            return "", errors.INVALID_TOKEN
        if now >= issued.expires_at:
            return issued.corpid, errors.TOKEN_EXPIRED
        return issued.corpid, errors.OK
