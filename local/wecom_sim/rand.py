"""Seeded, order-independent randomness: a stable number in [0, 1) for any tuple of parts."""

from __future__ import annotations

import hashlib


def unit(seed: int, *parts: object) -> float:
    """A deterministic draw in [0, 1) for (seed, parts), the same whatever else happened before."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
