"""Who is calling the admin API and what their role lets them do: pure rules on plain values.

`admin` may do everything; `operator` runs customers, channels, materials and mass messages; `viewer` only reads;
`sales` sees one employee's own customers, tasks and figures (the key carries the employee's userid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ADMIN = "admin"
OPERATOR = "operator"
VIEWER = "viewer"
SALES = "sales"
ROLES: tuple[str, ...] = (ADMIN, OPERATOR, VIEWER, SALES)

EVERYONE: tuple[str, ...] = ROLES
READERS: tuple[str, ...] = (ADMIN, OPERATOR, VIEWER)
WRITERS: tuple[str, ...] = (ADMIN, OPERATOR)
ADMINS: tuple[str, ...] = (ADMIN,)

KEY_ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
"""An API key id: 12 hex digits (the key's public part, shown in lists and the audit log)."""


@dataclass(frozen=True)
class Principal:
    """The caller as resolved from its API key: the tenant comes from the credential, never from the URL."""

    tenant_id: str
    role: str
    employee_userid: str | None
    key_id: str

    @property
    def is_sales(self) -> bool:
        return self.role == SALES


class InvalidRole(ValueError):
    """A role name that is not one of ROLES, or a sales role without its employee."""


def check_key_role(role: str, employee_userid: str | None) -> None:
    """A key's role must be known; a sales key needs the employee it speaks for, other keys must not carry one."""
    if role not in ROLES:
        raise InvalidRole(f"role must be one of {', '.join(ROLES)}")
    if role == SALES and not employee_userid:
        raise InvalidRole("a sales key needs employee_userid")
    if role != SALES and employee_userid:
        raise InvalidRole("only a sales key carries employee_userid")


def role_allowed(principal: Principal, roles: tuple[str, ...]) -> bool:
    return principal.role in roles


def visible_employee(principal: Principal, requested: str | None) -> str | None:
    """Which employee's data a call may see: a sales key is pinned to its own employee whatever it asks for."""
    if principal.is_sales:
        return principal.employee_userid
    return requested
