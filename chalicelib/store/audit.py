"""The audit log of a tenant's admin writes: who (key, role, employee), when, what, on what, and from where.

Entries live in the data table at `<tenant>#audit`, sorted by time, newest read first, and expire after
`RETENTION_DAYS` (the data table's TTL attribute).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.store.dynamo import InvalidCursor, decode_cursor, encode_cursor
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table

RETENTION_DAYS = 400
_SK_PATTERN = re.compile(r"^\d{13}#[0-9a-f]{8}$")


@on_table(resources.DATA)
class AuditItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    at_ms = NumberAttribute()
    key_id = UnicodeAttribute()
    role = UnicodeAttribute()
    employee_userid = UnicodeAttribute(null=True)
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    source_ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()


@dataclass(frozen=True)
class AuditEntry:
    """One admin write."""

    at_ms: int
    key_id: str
    role: str
    employee_userid: str | None
    action: str
    target: str
    source_ip: str | None
    user_agent: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "at_ms": self.at_ms,
            "key_id": self.key_id,
            "role": self.role,
            "employee_userid": self.employee_userid,
            "action": self.action,
            "target": self.target,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
        }


class AuditLog:
    """The audit log of one tenant."""

    def __init__(self, tenant_id: str) -> None:
        self._pk = TenantKeys(tenant_id).key("audit")
        bind_models()

    def append(self, entry: AuditEntry) -> None:
        AuditItem(
            pk=self._pk,
            sk=f"{entry.at_ms:013d}#{secrets.token_hex(4)}",
            expires_at=int(time.time()) + RETENTION_DAYS * 24 * 3600,
            **entry.as_dict(),
        ).save()

    def page(self, limit: int, cursor: str | None = None) -> tuple[list[AuditEntry], str | None]:
        """Newest first; the cursor carries only a position inside this tenant's log."""
        last_key = None
        if cursor:
            last_key = {"pk": {"S": self._pk}, "sk": {"S": _decode_cursor(cursor)}}
        now = int(time.time())
        result = AuditItem.query(self._pk, scan_index_forward=False, limit=limit, last_evaluated_key=last_key)
        items = list(result)
        entries = [
            AuditEntry(
                at_ms=int(item.at_ms),
                key_id=item.key_id,
                role=item.role,
                employee_userid=item.employee_userid,
                action=item.action,
                target=item.target,
                source_ip=item.source_ip,
                user_agent=item.user_agent,
            )
            for item in items
            if int(item.expires_at) > now
        ]
        next_cursor = None
        if result.last_evaluated_key and items:
            next_cursor = encode_cursor(items[-1].sk)
        return entries, next_cursor


def _decode_cursor(cursor: str) -> str:
    sk = decode_cursor(cursor)
    if not isinstance(sk, str) or not _SK_PATTERN.fullmatch(sk):
        raise InvalidCursor(cursor)
    return sk
