"""A tenant's WeCom credentials as plain values; their reprs never show a secret."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AppCredentials:
    """The self-built app that calls the customer-contact APIs and sends app messages to employees."""

    corp_id: str
    agent_id: int
    secret: str = field(repr=False)


@dataclass(frozen=True)
class CallbackCredentials:
    """What verifies and decrypts the tenant's callbacks; the receive id of a self-built app is the corp id."""

    corp_id: str
    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)
