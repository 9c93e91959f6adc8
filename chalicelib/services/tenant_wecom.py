"""The one way to get a WeCom client acting as a tenant's app, for routes, workers and services alike.

The client reads the tenant's app credentials on first use and again after WeCom's 40001 (a rotated secret), and
shares access tokens with every other Lambda through the runtime table (one `AccessTokens` per process). This module
stays light (no stores beyond credentials and tokens, httpx on first use) because the API imports it at cold start.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from chalicelib.config import Settings, get_settings
from chalicelib.domain.credentials import AppCredentials
from chalicelib.store.tenants import get_app_credentials, invalidate_credentials
from chalicelib.store.tokens import DynamoTokenStore
from chalicelib.wecom import errors
from chalicelib.wecom.access_token import AccessTokens

if TYPE_CHECKING:
    from chalicelib.wecom.client import WeComClient

_process_tokens: AccessTokens | None = None
_process_tokens_mutex = threading.Lock()


def process_access_tokens(settings: Settings | None = None) -> AccessTokens:
    """The access tokens of this Lambda process, shared with every other through the runtime table."""
    global _process_tokens
    with _process_tokens_mutex:
        if _process_tokens is None:
            _process_tokens = AccessTokens(DynamoTokenStore(settings or get_settings()))
        return _process_tokens


def has_credentials(tenant_id: str) -> bool:
    """Whether the tenant's app credentials are stored (read through the credentials cache)."""
    return get_app_credentials(tenant_id) is not None


def tenant_wecom(tenant_id: str, settings: Settings | None = None) -> WeComClient:
    """A WeCom client acting as the tenant's app; a call raises `AppNotConfigured` when the tenant has none."""
    from chalicelib.wecom.client import WeComClient  # httpx: not in the API's cold start until a route calls WeCom

    settings = settings or get_settings()
    reads = 0

    def credentials() -> AppCredentials:
        # The client reads again only after WeCom refused the credentials it has (a rotated secret): this process's
        # cached copy is the refused one, so that read goes to the store.
        nonlocal reads
        if reads:
            invalidate_credentials(tenant_id)
        reads += 1
        found = get_app_credentials(tenant_id)
        if found is None:
            raise errors.AppNotConfigured(tenant_id)
        return found

    return WeComClient(credentials, process_access_tokens(settings), settings)


def configured_wecom(tenant_id: str, settings: Settings | None = None) -> WeComClient:
    """The tenant's WeCom client for a worker that cannot start without one: LookupError when no app is stored."""
    if not has_credentials(tenant_id):
        raise LookupError("the tenant has no WeCom app credentials")
    return tenant_wecom(tenant_id, settings)
