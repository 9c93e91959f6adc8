"""A tenant's admin API keys, stored as SHA-256 hashes of high-entropy secrets.

A key reads `qrk.<tenant_id>.<key_id>.<secret>`: the tenant and key id in it make the lookup one strongly consistent
GetItem on `<tenant>#apikey / <key_id>`, and nothing is cached, so a revoked or rotated key fails on its next call.
SHA-256 (not a slow password hash) is right here because the secret is 256 random bits, not a human's password.

Invariant: a tenant keeps at least one active admin key. A counter item `<tenant>#apikeys / admins` holds the number
of active admin keys, and every change to it rides in one TransactWrite with the key it counts: issuing an admin key
adds one, revoking one subtracts one on condition that the count is above one. So two admins revoking each other's
keys at once cannot both win: DynamoDB decides, not a read made before the write. A tenant whose counter does not
exist yet (created before it, or brand new) gets it from a strongly consistent count of its keys, put only if absent;
no admin key changes meanwhile, since every such change needs the counter to exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import resources
from chalicelib.domain.access import ADMIN, KEY_ID_PATTERN, check_key_role
from chalicelib.store.dynamo import failed_conditions, is_condition_failure
from chalicelib.store.keys import TENANT_ID_PATTERN, TenantKeys
from chalicelib.store.tables import bind_models, on_table, shared_connection

TOKEN_PREFIX = "qrk"  # noqa: S105 - a marker, not a secret
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
LAST_USED_RESOLUTION_SECONDS = 300
ADMIN_COUNT_SK = "admins"
MAX_ATTEMPTS = 3


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


@on_table(resources.TENANTS)
class AdminCountItem(Model):
    """The number of the tenant's active admin keys; only ever changed in a transaction with the key it counts."""

    class Meta:
        table_name = resources.TENANTS.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    active = NumberAttribute()


class LastAdminKey(Exception):
    """Revoking this key would leave the tenant without an active admin key."""


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
        self._count_pk = TenantKeys(tenant_id).key("apikeys")
        self._settings = bind_models()

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
        if role == ADMIN:
            self._counted(lambda tx: tx.save(item, condition=ApiKeyItem.pk.does_not_exist()), delta=1)
        else:
            item.save(condition=ApiKeyItem.pk.does_not_exist())
        key = _from_item(self.tenant_id, item)
        return IssuedKey(key, f"{key.prefix}.{secret}")

    def _item(self, key_id: str) -> ApiKeyItem | None:
        if not KEY_ID_PATTERN.fullmatch(key_id):
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
        """The active admin keys as counted from the keys themselves (a strongly consistent query)."""
        return sum(1 for key in self.list() if key.active and key.role == ADMIN)

    def _counted(self, write: Callable[[TransactWrite], None], delta: int) -> None:
        """Run `write` (one conditioned key write) and add `delta` to the admin count in one transaction.

        Raises LastAdminKey when a decrement would take the count below one, and the key write's own condition
        failure as the TransactWriteError (the first reason failed). A missing counter is created and the
        transaction sent again."""
        counter = AdminCountItem(pk=self._count_pk, sk=ADMIN_COUNT_SK)
        condition = AdminCountItem.pk.exists()
        if delta < 0:
            condition &= AdminCountItem.active >= 1 - delta
        for _ in range(MAX_ATTEMPTS):
            try:
                with TransactWrite(connection=shared_connection(self._settings)) as tx:
                    write(tx)
                    tx.update(counter, actions=[AdminCountItem.active.add(delta)], condition=condition)
                return
            except TransactWriteError as error:
                failed = failed_conditions(error)
                if len(failed) < 2 or failed[0] or not failed[1]:
                    raise
            if delta < 0 and self._count_exists():
                raise LastAdminKey(self.tenant_id)
            self._create_count()
        raise RuntimeError(f"tenant {self.tenant_id}: admin key count still missing after {MAX_ATTEMPTS} attempts")

    def _count_exists(self) -> bool:
        try:
            AdminCountItem.get(self._count_pk, ADMIN_COUNT_SK, consistent_read=True)
        except DoesNotExist:
            return False
        return True

    def _create_count(self) -> None:
        """Put the counter from a consistent count of the keys, unless another caller just did."""
        try:
            AdminCountItem(pk=self._count_pk, sk=ADMIN_COUNT_SK, active=self.active_admins()).save(
                condition=AdminCountItem.pk.does_not_exist()
            )
        except PutError as error:
            if not is_condition_failure(error):
                raise

    def _update_active(self, key_id: str, actions: list, guard: Condition | None = None) -> ApiKey | None:
        if not KEY_ID_PATTERN.fullmatch(key_id):
            return None
        item = ApiKeyItem(pk=self._pk, sk=key_id)
        condition = ApiKeyItem.pk.exists() & ApiKeyItem.revoked_at.does_not_exist()
        try:
            item.update(actions=actions, condition=condition if guard is None else condition & guard)
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
        """Revoke an active key for good; None if no such active key. Raises LastAdminKey rather than revoke the
        tenant's last active admin key (decided by the write, see the module's docstring)."""
        item = self._item(key_id)
        if item is None or item.revoked_at is not None:
            return None
        now = int(time.time())
        if item.role != ADMIN:  # a key's role never changes, so the condition below is only a guard
            return self._update_active(key_id, [ApiKeyItem.revoked_at.set(now)], ApiKeyItem.role != ADMIN)
        active = ApiKeyItem.pk.exists() & ApiKeyItem.revoked_at.does_not_exist() & (ApiKeyItem.role == ADMIN)
        try:
            self._counted(lambda tx: tx.update(item, [ApiKeyItem.revoked_at.set(now)], condition=active), delta=-1)
        except TransactWriteError as error:
            if is_condition_failure(error):
                return None
            raise
        item.revoked_at = now
        return _from_item(self.tenant_id, item)

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
    if (
        not TENANT_ID_PATTERN.fullmatch(tenant_id)
        or not KEY_ID_PATTERN.fullmatch(key_id)
        or not SECRET_PATTERN.fullmatch(secret)
    ):
        return None
    return ApiKeys(tenant_id).verify(key_id, secret)
