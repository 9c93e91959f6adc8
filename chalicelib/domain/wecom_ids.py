"""The shapes of WeCom's identifiers, as the API accepts them in paths, bodies and filters.

Each is anchored (`^…$`) for JSON Schema readers of the OpenAPI document and is checked with `re.fullmatch` (with
`re.match`, `$` also matches before a trailing newline). Lengths are WeCom's own: a userid is 1-64 characters of
letters, digits and `_-@.`; the ids WeCom generates (external_userid `wm…`/`wo…`, chat_id `wr…`, tag and tag group
ids `et…`, 「联系我」 config_id) are about 32 characters, capped here at 64; a 「联系我」 state is at most 30 and
a 获客链接 customer_channel (which comes back as a relation's state) at most 64. Every key built from one of them stays
far below DynamoDB's 1,024-byte sort key and 2,048-byte partition key.
"""

from __future__ import annotations

import re

from chalicelib.domain.wecom_limits import CONTACT_WAY_STATE_MAX_CHARS

ID_MAX_CHARS = 64
USERID = rf"^[A-Za-z0-9_.@-]{{1,{ID_MAX_CHARS}}}$"
EXTERNAL_USERID = rf"^[A-Za-z0-9_-]{{1,{ID_MAX_CHARS}}}$"
CHAT_ID = rf"^[A-Za-z0-9_-]{{1,{ID_MAX_CHARS}}}$"
TAG_ID = rf"^[A-Za-z0-9_-]{{1,{ID_MAX_CHARS}}}$"
CONFIG_ID = rf"^[A-Za-z0-9_-]{{1,{ID_MAX_CHARS}}}$"
CHANNEL_STATE = rf"^[A-Za-z0-9_-]{{1,{CONTACT_WAY_STATE_MAX_CHARS}}}$"
RELATION_STATE = rf"^[^\x00-\x1f\x7f]{{1,{ID_MAX_CHARS}}}$"


def has_shape(pattern: str, value: object) -> bool:
    """Whether `value` is a string that `pattern` matches whole."""
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None
