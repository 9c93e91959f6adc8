"""Identifier shapes close to WeCom's (wm… customers, wr… chats, et… tags, msg… mass messages)."""

from __future__ import annotations

import base64
import random


def token(rng: random.Random, length: int) -> str:
    """A URL-safe random string of ``length`` characters from ``rng``."""
    raw = rng.getrandbits(length * 6).to_bytes((length * 6 + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode()[:length]


def alnum(rng: random.Random, length: int) -> str:
    """A random string of ASCII letters and digits (used for EncodingAESKey and secrets)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choices(letters, k=length))


def external_userid(rng: random.Random) -> str:
    return "wm" + token(rng, 30)


def chat_id(rng: random.Random) -> str:
    return "wr" + token(rng, 30)


def tag_id(rng: random.Random) -> str:
    return "et" + token(rng, 30)


def msgid(rng: random.Random) -> str:
    return "msg" + token(rng, 27)


def config_id(rng: random.Random) -> str:
    return token(rng, 32)
