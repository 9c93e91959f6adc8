"""Tenants: their profile (corp, app, region, plan, standing) and their WeCom credentials for the other parts.

The profile lives in the tenants table at `<tenant>#tenant / profile`; a sparse directory index (gsi1) lets the
operator page through all tenants of the region. Secrets live in SSM (`chalicelib.store.secrets`).

For the callback endpoint and the WeCom client: `get_callback_credentials` and `get_app_credentials` are cached in
memory for `CREDENTIALS_TTL_SECONDS` (unknown tenants for `UNKNOWN_TTL_SECONDS`), so a rotated secret reaches running
workers within that time without a redeploy; a worker that gets errcode 40001 calls `invalidate_credentials` and reads
again at once. Anyone can put a tenant id in a callback URL, so these caches hold at most `CACHED_TENANTS_MAX` tenants
each, expired entries (unknown ids first, by their short TTL) dropped before live ones.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.domain.credentials import AppCredentials, CallbackCredentials
from chalicelib.domain.plans import Standing, standing
from chalicelib.domain.ttl_cache import TtlCache
from chalicelib.store import secrets as tenant_secrets
from chalicelib.store.dynamo import InvalidCursor, decode_cursor, encode_cursor, is_condition_failure
from chalicelib.store.keys import TENANT_ID_PATTERN, TenantKeys
from chalicelib.store.tables import bind_models, on_table

PROFILE_SK = "profile"
DIRECTORY = "directory"
CREDENTIALS_TTL_SECONDS = 60.0
UNKNOWN_TTL_SECONDS = 10.0
PROFILE_TTL_SECONDS = 30.0
CACHED_TENANTS_MAX = 2048


class DirectoryIndex(GlobalSecondaryIndex["TenantItem"]):
    """All tenant profiles of the region in tenant id order (only profiles carry gsi1 keys)."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


@on_table(resources.TENANTS)
class TenantItem(Model):
    class Meta:
        table_name = resources.TENANTS.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    directory = DirectoryIndex()
    tenant_id = UnicodeAttribute()
    name = UnicodeAttribute()
    corp_id = UnicodeAttribute()
    agent_id = NumberAttribute()
    region = UnicodeAttribute()
    plan = UnicodeAttribute()
    status = UnicodeAttribute()
    status_reason = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


@dataclass(frozen=True)
class Tenant:
    """A tenant's profile; holds no secret."""

    tenant_id: str
    name: str
    corp_id: str
    agent_id: int
    region: str
    plan: str
    status: str
    status_reason: str | None
    expires_at: int
    created_at: int
    updated_at: int

    def as_dict(self) -> dict[str, object]:
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "corp_id": self.corp_id,
            "agent_id": self.agent_id,
            "region": self.region,
            "plan": self.plan,
            "status": self.status,
            "status_reason": self.status_reason,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class TenantExists(Exception):
    """A tenant with this id is already registered."""


class TenantNotFound(Exception):
    """No tenant with this id."""


def _profile_key(tenant_id: str) -> str:
    return TenantKeys(tenant_id).key("tenant")


def _from_item(item: TenantItem) -> Tenant:
    return Tenant(
        tenant_id=item.tenant_id,
        name=item.name,
        corp_id=item.corp_id,
        agent_id=int(item.agent_id),
        region=item.region,
        plan=item.plan,
        status=item.status,
        status_reason=item.status_reason,
        expires_at=int(item.expires_at),
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
    )


def new_tenant_id() -> str:
    """A generated tenant id: `t-` and ten lowercase letters or digits."""
    return "t-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))


def create_tenant(tenant: Tenant, tenant_secrets_values: dict[str, str]) -> Tenant:
    """Register a tenant and store its secrets; refuses an id already taken."""
    bind_models()
    item = TenantItem(
        pk=_profile_key(tenant.tenant_id),
        sk=PROFILE_SK,
        gsi1pk=DIRECTORY,
        gsi1sk=tenant.tenant_id,
        **tenant.as_dict(),
    )
    try:
        item.save(condition=TenantItem.pk.does_not_exist())
    except PutError as error:
        if is_condition_failure(error):
            raise TenantExists(tenant.tenant_id) from None
        raise
    tenant_secrets.put_secrets(tenant.tenant_id, tenant_secrets_values)
    invalidate_credentials(tenant.tenant_id)
    return tenant


def get_tenant(tenant_id: str) -> Tenant | None:
    """The tenant's profile as stored now (a strongly consistent read), or None."""
    if not TENANT_ID_PATTERN.fullmatch(tenant_id):
        return None
    bind_models()
    try:
        return _from_item(TenantItem.get(_profile_key(tenant_id), PROFILE_SK, consistent_read=True))
    except DoesNotExist:
        return None


def standing_of(tenant_id: str, now: int) -> Standing | None:
    """The tenant's standing as stored now (not cached: a scheduled send must see a suspension at once), or None for
    a tenant that does not exist."""
    tenant = get_tenant(tenant_id)
    return standing(tenant.status, tenant.expires_at, now) if tenant is not None else None


def update_tenant(tenant_id: str, now: int, **changes: object) -> Tenant:
    """Change some of plan, expires_at, status, status_reason, name, agent_id of an existing tenant."""
    allowed = {"plan", "expires_at", "status", "status_reason", "name", "agent_id"}
    if set(changes) - allowed:
        raise KeyError(f"cannot change {sorted(set(changes) - allowed)}")
    bind_models()
    item = TenantItem(pk=_profile_key(tenant_id), sk=PROFILE_SK)
    actions = [getattr(TenantItem, name).set(value) for name, value in changes.items() if value is not None]
    actions += [getattr(TenantItem, name).remove() for name, value in changes.items() if value is None]
    actions.append(TenantItem.updated_at.set(now))
    try:
        item.update(actions=actions, condition=TenantItem.pk.exists())
    except UpdateError as error:
        if is_condition_failure(error):
            raise TenantNotFound(tenant_id) from None
        raise
    _forget_profile(tenant_id)
    return _from_item(item)


def list_tenants(limit: int, cursor: str | None) -> tuple[list[Tenant], str | None]:
    """A page of tenants in id order and the cursor of the next page (None at the end)."""
    bind_models()
    last_key = None
    if cursor:
        after = _decode_cursor(cursor)
        last_key = {"pk": {"S": _profile_key(after)}, "sk": {"S": PROFILE_SK}}
        last_key |= {"gsi1pk": {"S": DIRECTORY}, "gsi1sk": {"S": after}}
    page = TenantItem.directory.query(DIRECTORY, limit=limit, last_evaluated_key=last_key)
    tenants = [_from_item(item) for item in page]
    next_cursor = None
    if page.last_evaluated_key and tenants:
        next_cursor = encode_cursor(tenants[-1].tenant_id)
    return tenants, next_cursor


def _decode_cursor(cursor: str) -> str:
    tenant_id = decode_cursor(cursor)
    if not isinstance(tenant_id, str) or not TENANT_ID_PATTERN.fullmatch(tenant_id):
        raise InvalidCursor(cursor)
    return tenant_id


def rotate_secrets(tenant_id: str, values: dict[str, str]) -> None:
    """Overwrite some secrets of an existing tenant; this process forgets its cached credentials at once."""
    if get_tenant(tenant_id) is None:
        raise TenantNotFound(tenant_id)
    tenant_secrets.put_secrets(tenant_id, values)
    invalidate_credentials(tenant_id)


@dataclass(frozen=True)
class _Cached:
    app: AppCredentials | None
    callback: CallbackCredentials | None


_credentials: TtlCache[str, _Cached] = TtlCache(max_entries=CACHED_TENANTS_MAX)
_profiles: TtlCache[str, Tenant | None] = TtlCache(max_entries=CACHED_TENANTS_MAX)


def _load_credentials(tenant_id: str) -> _Cached:
    return _credentials.get(tenant_id, lambda: _read_credentials(tenant_id))


def _read_credentials(tenant_id: str) -> tuple[_Cached, float]:
    tenant = get_tenant(tenant_id)
    if tenant is None:
        return _Cached(None, None), UNKNOWN_TTL_SECONDS
    values = tenant_secrets.get_secrets(tenant_id)
    app = None
    if tenant_secrets.APP_SECRET in values:
        app = AppCredentials(tenant.corp_id, tenant.agent_id, values[tenant_secrets.APP_SECRET])
    callback = None
    if tenant_secrets.CALLBACK_TOKEN in values and tenant_secrets.ENCODING_AES_KEY in values:
        callback = CallbackCredentials(
            tenant.corp_id, values[tenant_secrets.CALLBACK_TOKEN], values[tenant_secrets.ENCODING_AES_KEY]
        )
    return _Cached(app, callback), CREDENTIALS_TTL_SECONDS


def get_callback_credentials(tenant_id: str) -> CallbackCredentials | None:
    """What verifies and decrypts the tenant's callbacks; None for unknown tenants, given whatever the standing."""
    return _load_credentials(tenant_id).callback


def get_app_credentials(tenant_id: str) -> AppCredentials | None:
    """The self-built app's credentials for calling WeCom; None for unknown tenants."""
    return _load_credentials(tenant_id).app


def invalidate_credentials(tenant_id: str) -> None:
    """Forget this process's cached credentials of the tenant (after a rotation, or on WeCom errcode 40001)."""
    _credentials.forget(tenant_id)
    _forget_profile(tenant_id)


def forget_cached_tenants() -> None:
    """Forget every tenant's cached credentials and profile in this process: the store it read them from was
    replaced (a local stack started anew in the same process), so none of them is that store's any more."""
    _credentials.forget()
    _profiles.forget()


def get_tenant_cached(tenant_id: str) -> Tenant | None:
    """The profile as read at most PROFILE_TTL_SECONDS ago: what admin calls check standing and plan against."""
    return _profiles.get(tenant_id, lambda: (get_tenant(tenant_id), PROFILE_TTL_SECONDS))


def _forget_profile(tenant_id: str) -> None:
    _profiles.forget(tenant_id)
