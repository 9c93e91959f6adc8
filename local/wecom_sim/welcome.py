"""Welcome codes: issued with a new-friend event, valid 20 simulated seconds, usable once."""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import errors, ids
from .errors import WeComError


@dataclass(slots=True)
class WelcomeCode:
    """A welcome code and the relation it belongs to."""

    code: str
    userid: str
    external_userid: str
    issued_at: float
    used: bool = False
    sent: dict | None = None
    """The welcome delivered with this code: ``text`` and ``attachments`` as sent."""


class WelcomeCodes:
    """Issued welcome codes of one corp."""

    def __init__(self, ttl: float, rng: random.Random) -> None:
        self._ttl = ttl
        self._rng = rng
        self.codes: dict[str, WelcomeCode] = {}

    def issue(self, userid: str, external_userid: str, now: float) -> WelcomeCode:
        code = WelcomeCode(ids.token(self._rng, 43), userid, external_userid, now)
        self.codes[code.code] = code
        return code

    def consume(self, code: str, now: float) -> WelcomeCode:
        """Use a code once: 41050 if unknown or older than the TTL, 41051 if already used."""
        if not code:
            raise WeComError(errors.WELCOME_CODE_MISSING)
        found = self.codes.get(code)
        if found is None or now - found.issued_at > self._ttl:
            raise WeComError(errors.WELCOME_CODE_INVALID)
        if found.used:
            raise WeComError(errors.WELCOME_ALREADY_CHATTING)
        found.used = True
        return found
