"""WeCom API handlers, one module per area; ``ROUTES`` maps an API path (after /cgi-bin/) to its handler."""

from __future__ import annotations

from . import (
    acquisition,
    contact_way,
    customers,
    directory,
    group_welcome,
    groupchat,
    join_way,
    massmsg,
    media,
    message,
    moments,
    tags,
    transfer,
    welcome,
)
from .common import Route

ROUTES: dict[str, Route] = {}
AREAS = (
    acquisition,
    contact_way,
    customers,
    directory,
    group_welcome,
    groupchat,
    join_way,
    massmsg,
    media,
    message,
    moments,
    tags,
    transfer,
    welcome,
)
for _module in AREAS:
    ROUTES.update(_module.ROUTES)
