"""The shared page's script and style sheet, and the sales view's style sheet (chalicelib/assets), served by the stack
under content-hashed names.

A hashed name changes whenever the file does, so the answer can be cached for a year and a page never runs a stale
script; the Content-Security-Policy allows scripts from the stack only, and this is the only one there is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
ROUTE_PREFIX = "/page-assets/"
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
FILES = ("page.js", "page.css", "sales.css")


@dataclass(frozen=True)
class Asset:
    name: str
    body: str
    content_type: str


@cache
def _assets() -> dict[str, Asset]:
    """Every asset by its hashed name (`page.<12 hex>.js`), read once per process."""
    found = {}
    for file_name in FILES:
        path = ASSETS_DIR / file_name
        body = path.read_text(encoding="utf-8")
        digest = hashlib.sha256(body.encode()).hexdigest()[:12]
        name = f"{path.stem}.{digest}{path.suffix}"
        found[name] = Asset(name, body, CONTENT_TYPES[path.suffix])
    return found


def hashed_name(file_name: str) -> str:
    """The served name of `page.js`, `page.css` or `sales.css`."""
    stem, _, suffix = file_name.rpartition(".")
    return next(a.name for a in _assets().values() if a.name.startswith(stem + ".") and a.name.endswith("." + suffix))


def asset(name: str) -> Asset | None:
    return _assets().get(name)
