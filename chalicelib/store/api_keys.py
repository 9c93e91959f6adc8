"""A tenant's admin API keys, stored as SHA-256 hashes of high-entropy secrets.

A key reads `qrk.<tenant_id>.<key_id>.<secret>`: the tenant and key id in it make the lookup one strongly consistent
GetItem on `<tenant>#apikey / <key_id>`, and nothing is cached, so a revoked or rotated key fails on its next call.
SHA-256 (not a slow password hash) is right here because the secret is 256 random bits, not a human's password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.domain.access import ADMIN, check_key_role
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.keys import TENANT_ID_PATTERN, TenantKeys
from chalicelib.store.tables import bind_models, on_table

TOKEN_PREFIX = "qrk"  # noqa: S105 - a marker, not a secret
KEY_ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
LAST_USED_RESOLUTION_SECONDS = 300


@on_table(resources.TENANTS)
class ApiKeyItem(Model):
    class Meta:
        table_name = resources.TENANTS.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    secret_hash = UnicodeAttribute()
    role = UnicodeAttribute()
    employee_userid = UnicodeAttribute(null=True)
    label = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    rotated_at = NumberAttribute(null=True)
    last_used_at = NumberAttribute(null=True)
    revoked_at = NumberAttribute(null=True)


@dataclass(frozen=True)
class ApiKey:
    """A key as listed to admins: never its secret nor its hash."""

    tenant_id: str
    key_id: str
    role: str
    employee_userid: str | None
    label: str | None
    created_at: int
    rotated_at: int | None
    last_used_at: int | None
    revoked_at: int | None

    @property
    def prefix(self) -> str:
        return f"{TOKEN_PREFIX}.{self.tenant_id}.{self.key_id}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "prefix": self.prefix,
            "role": self.role,
            "employee_userid": self.employee_userid,
            "label": self.label,
            "created_at": self.created_at,
            "rotated_at": self.rotated_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "active": self.active,
        }


@dataclass(frozen=True)
class IssuedKey:
    """A key just created or rotated, with the token to show once."""

    key: ApiKey
    token: str = field(repr=False)


def new_key_id() -> str:
    return secrets.token_hex(6)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _from_item(tenant_id: str, item: ApiKeyItem) -> ApiKey:
    def maybe_int(value: float | None) -> int | None:
        return None if value is None else int(value)

    return ApiKey(
        tenant_id=tenant_id,
        key_id=item.sk,
        role=item.role,
        employee_userid=item.employee_userid,
        label=item.label,
        created_at=int(item.created_at),
        rotated_at=maybe_int(item.rotated_at),
        last_used_at=maybe_int(item.last_used_at),
        revoked_at=maybe_int(item.revoked_at),
    )


class ApiKeys:
    """The API keys of one tenant; it cannot read or write another tenant's keys."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._pk = TenantKeys(tenant_id).key("apikey")
        bind_models()

    def issue(self, role: str, employee_userid: str | None = None, label: str | None = None) -> IssuedKey:
        """Create a key; its token is in the answer and nowhere else."""
        check_key_role(role, employee_userid)
        secret = secrets.token_urlsafe(32)
        item = ApiKeyItem(
            pk=self._pk,
            sk=new_key_id(),
            secret_hash=_hash(secret),
            role=role,
            employee_userid=employee_userid,
            label=label,
            created_at=int(time.time()),
        )
        item.save(condition=ApiKeyItem.pk.does_not_exist())
        key = _from_item(self.tenant_id, item)
        return IssuedKey(key, f"{key.prefix}.{secret}")

    def _item(self, key_id: str) -> ApiKeyItem | None:
        if not KEY_ID_PATTERN.match(key_id):
            return None
        try:
            return ApiKeyItem.get(self._pk, key_id, consistent_read=True)
        except DoesNotExist:
            return None

    def get(self, key_id: str) -> ApiKey | None:
        item = self._item(key_id)
        return None if item is None else _from_item(self.tenant_id, item)

    def list(self) -> list[ApiKey]:
        return [_from_item(self.tenant_id, item) for item in ApiKeyItem.query(self._pk, consistent_read=True)]

    def active_admins(self) -> int:
        return sum(1 for key in self.list() if key.active and key.role == ADMIN)

    def _update_active(self, key_id: str, actions: list) -> ApiKey | None:
        if not KEY_ID_PATTERN.match(key_id):
            return None
        item = ApiKeyItem(pk=self._pk, sk=key_id)
        try:
            item.update(actions=actions, condition=ApiKeyItem.pk.exists() & ApiKeyItem.revoked_at.does_not_exist())
        except UpdateError as error:
            if is_condition_failure(error):
                return None
            raise
        return _from_item(self.tenant_id, item)

    def rotate(self, key_id: str) -> IssuedKey | None:
        """Give an active key a new secret; the old token fails from now on. None if no such active key."""
        secret = secrets.token_urlsafe(32)
        now = int(time.time())
        key = self._update_active(key_id, [ApiKeyItem.secret_hash.set(_hash(secret)), ApiKeyItem.rotated_at.set(now)])
        return None if key is None else IssuedKey(key, f"{key.prefix}.{secret}")

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke an active key for good; None if no such active key."""
        return self._update_active(key_id, [ApiKeyItem.revoked_at.set(int(time.time()))])

    def verify(self, key_id: str, secret: str) -> ApiKey | None:
        """The active key whose secret this is, or None; records its use at most every few minutes."""
        item = self._item(key_id)
        if item is None or item.revoked_at is not None:
            return None
        if not hmac.compare_digest(item.secret_hash, _hash(secret)):
            return None
        now = int(time.time())
        if item.last_used_at is None or now - int(item.last_used_at) >= LAST_USED_RESOLUTION_SECONDS:
            item.update(actions=[ApiKeyItem.last_used_at.set(now)])
        return _from_item(self.tenant_id, item)


def authenticate(token: str) -> ApiKey | None:
    """The active key a bearer token stands for, or None for anything malformed, unknown, revoked or wrong."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != TOKEN_PREFIX:
        return None
    _, tenant_id, key_id, secret = parts
    if not TENANT_ID_PATTERN.match(tenant_id) or not KEY_ID_PATTERN.match(key_id) or not SECRET_PATTERN.match(secret):
        return None
    return ApiKeys(tenant_id).verify(key_id, secret)
