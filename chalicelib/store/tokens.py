"""WeCom access tokens and their refresh locks on the runtime table, shared by every concurrent Lambda.

Items are keyed by corp, app and a fingerprint of the secret (`access_token.token_key`), not by tenant: a token belongs
to a WeCom app, and the client that uses it is handed credentials, never a tenant. Both items carry `expires_at`, the
table's TTL attribute, and the code compares it itself because TTL deletion is late (and never happens on moto).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.access_token import AccessToken
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.tables import bind_models, on_table

CURRENT_SK = "current"
LOCK_SK = "refresh-lock"


def _pk(key: str) -> str:
    return f"wecom-token#{key}"


@on_table(resources.RUNTIME)
class AccessTokenItem(Model):
    """The current token of one WeCom app."""

    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=CURRENT_SK)
    token = UnicodeAttribute()
    issued_at = NumberAttribute()
    expires_at = NumberAttribute()


@on_table(resources.RUNTIME)
class RefreshLockItem(Model):
    """Who is fetching a new token for one WeCom app, until when."""

    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=LOCK_SK)
    owner = UnicodeAttribute()
    expires_at = NumberAttribute()


def _unless_condition_failed(error: PutError | DeleteError) -> None:
    if not is_condition_failure(error):
        raise error


class DynamoTokenStore:
    """`SharedTokenStore` on the runtime table: conditional writes keep the newest token and a single refresher."""

    def __init__(self, settings: Settings | None = None) -> None:
        bind_models(settings)

    def load(self, key: str) -> AccessToken | None:
        try:
            item = AccessTokenItem.get(_pk(key), CURRENT_SK, consistent_read=True)
        except DoesNotExist:
            return None
        return AccessToken(value=item.token, issued_at=float(item.issued_at), expires_at=float(item.expires_at))

    def save(self, key: str, token: AccessToken) -> None:
        item = AccessTokenItem(
            _pk(key), CURRENT_SK, token=token.value, issued_at=token.issued_at, expires_at=token.expires_at
        )
        try:
            item.save(condition=AccessTokenItem.pk.does_not_exist() | (AccessTokenItem.expires_at < token.expires_at))
        except PutError as error:
            _unless_condition_failed(error)

    def discard(self, key: str, token: AccessToken) -> None:
        try:
            AccessTokenItem(_pk(key), CURRENT_SK).delete(condition=AccessTokenItem.token == token.value)
        except DeleteError as error:
            _unless_condition_failed(error)

    def try_lock(self, key: str, owner: str, now: float, ttl_seconds: float) -> bool:
        lock = RefreshLockItem(_pk(key), LOCK_SK, owner=owner, expires_at=now + ttl_seconds)
        try:
            lock.save(condition=RefreshLockItem.pk.does_not_exist() | (RefreshLockItem.expires_at <= now))
        except PutError as error:
            _unless_condition_failed(error)
            return False
        return True

    def unlock(self, key: str, owner: str) -> None:
        try:
            RefreshLockItem(_pk(key), LOCK_SK).delete(condition=RefreshLockItem.owner == owner)
        except DeleteError as error:
            _unless_condition_failed(error)
