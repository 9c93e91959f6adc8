"""WeCom API handlers, one module per area; ``ROUTES`` maps an API path (after /cgi-bin/) to its handler."""

from __future__ import annotations

from . import (
    contact_way,
    customers,
    directory,
    group_welcome,
    groupchat,
    join_way,
    massmsg,
    media,
    message,
    tags,
    transfer,
    welcome,
)
from .common import Route

ROUTES: dict[str, Route] = {}
for _module in (
    contact_way,
    customers,
    directory,
    group_welcome,
    groupchat,
    join_way,
    massmsg,
    media,
    message,
    tags,
    transfer,
    welcome,
):
    ROUTES.update(_module.ROUTES)
