"""WeCom API handlers, one module per area; ``ROUTES`` maps an API path (after /cgi-bin/) to its handler."""

from __future__ import annotations

from importlib import import_module

from .common import Route

AREAS = (
    "acquisition",
    "auth",
    "contact_way",
    "customers",
    "directory",
    "group_welcome",
    "groupchat",
    "join_way",
    "massmsg",
    "media",
    "message",
    "moments",
    "tags",
    "transfer",
    "welcome",
)
ROUTES: dict[str, Route] = {}
for _area in AREAS:
    ROUTES.update(import_module(f"{__name__}.{_area}").ROUTES)
