"""WeCom's documented limits as named constants, and the two checks everyone needs against them.

Sources are WeCom's developer pages as summarised in the team's WeCom notes (API table, rate limits and frequency
rules). Planning, dispatch, the rate limiter and the API validators import these instead of writing numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Global API frequency (path/90454): per corp and per single API; per calling IP and per single API.
CORP_API_CALLS_PER_MINUTE = 10_000
CORP_API_CALLS_PER_HOUR = 150_000
IP_API_CALLS_PER_MINUTE = 20_000
IP_API_CALLS_PER_HOUR = 600_000
PROVIDER_IP_API_CALLS_PER_MINUTE = 40_000
PROVIDER_IP_API_CALLS_PER_HOUR = 1_200_000
BLOCK_SECONDS_AFTER_MINUTE_LIMIT = 60
BLOCK_SECONDS_AFTER_HOUR_LIMIT = 3600
SYSTEM_BUSY_MAX_RETRIES = 3

# access_token (path/91039).
ACCESS_TOKEN_MAX_BYTES = 512
ACCESS_TOKEN_DEFAULT_TTL_SECONDS = 7200

# Callbacks: WeCom waits 5 s for an answer and re-sends up to 3 times.
CALLBACK_TIMEOUT_SECONDS = 5
CALLBACK_RETRIES = 3

# Customer mass messages: add_msg_template (path/92135) and its follow-up queries.
MSG_TEMPLATE_MAX_EXTERNAL_USERIDS = 10_000
MSG_TEMPLATE_MAX_CHAT_IDS = 2_000
MSG_TEMPLATE_MAX_TAGS_PER_GROUP = 100
TEXT_MAX_BYTES = 4000
ATTACHMENTS_MAX = 9
GROUPMSG_LIST_MAX_LIMIT = 100
GROUPMSG_TASK_MAX_LIMIT = 1000
GROUPMSG_SEND_RESULT_MAX_LIMIT = 1000
GROUPMSG_REMINDS_PER_24H = 3

# Reading customers.
BATCH_GET_BY_USER_MAX_LIMIT = 100
BATCH_GET_BY_USER_MAX_USERIDS = 100
EXTERNALCONTACT_GET_FOLLOW_USERS_PER_PAGE = 500
GROUPCHAT_LIST_MAX_LIMIT = 1000
GROUPCHAT_OWNER_FILTER_MAX_USERIDS = 100
UNASSIGNED_LIST_MAX_PAGE_SIZE = 1000

# Editing customers.
REMARK_MAX_CHARS = 20
DESCRIPTION_MAX_CHARS = 150
REMARK_COMPANY_MAX_CHARS = 20
CORP_TAGS_MAX = 3000

# Transfers (在职/离职继承) and group transfers.
TRANSFER_CUSTOMERS_PER_CALL = 100
TRANSFER_SUCCESS_MSG_MAX_CHARS = 200
TRANSFERS_PER_CUSTOMER_PER_90_DAYS = 2
TRANSFER_RESULT_MAX_PAGE = 1000
GROUPCHAT_TRANSFER_MAX_CHATS = 100

# 「联系我」 (add_contact_way).
CONTACT_WAY_STATE_MAX_CHARS = 30
CONTACT_WAY_REMARK_MAX_CHARS = 30
CONTACT_WAYS_PER_CORP = 500_000
CONTACT_WAY_TEMP_MAX_DAYS = 14

# Application messages to employees (message/send, path/90236): excess is dropped silently, without an error.
APP_MESSAGE_PER_MEMBER_PER_MINUTE = 30
APP_MESSAGE_PER_MEMBER_PER_HOUR = 1000
APP_MESSAGE_PERSON_TIMES_PER_SEAT_PER_DAY = 200
APP_MESSAGE_MAX_TOUSER = 1000
APP_MESSAGE_MAX_TOPARTY = 100
APP_MESSAGE_MAX_TOTAG = 100
APP_MESSAGE_TEXT_MAX_BYTES = 2048

# Moments and media.
MOMENT_TEXT_MAX_CHARS = 2000
MOMENT_VISIBLE_USERS_MAX = 100_000
MEDIA_TTL_SECONDS = 3 * 24 * 3600
# Temporary media (media/upload, path/96484): more than 5 bytes; image JPG/PNG, video MP4, file any type.
MEDIA_MIN_BYTES = 6
MEDIA_IMAGE_MAX_BYTES = 10 * 1024 * 1024
MEDIA_VIDEO_MAX_BYTES = 10 * 1024 * 1024
MEDIA_FILE_MAX_BYTES = 20 * 1024 * 1024
UPLOADIMG_PER_DAY = 1000
UPLOADIMG_PER_MONTH = 3000


def utf8_length(text: str) -> int:
    """The length WeCom counts for byte-limited fields (`TEXT_MAX_BYTES`): a Chinese character is 3 bytes."""
    return len(text.encode("utf-8"))


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items, for list parameters with a per-call maximum."""
    if size < 1:
        raise ValueError("size must be positive")
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Customer-acquisition links (获客助手, D97297/D97298/D97375).
ACQUISITION_LINK_NAME_MAX_CHARS = 30
ACQUISITION_LINK_MAX_PEOPLE = 500
ACQUISITION_LIST_LINK_MAX_LIMIT = 100
ACQUISITION_CUSTOMER_MAX_LIMIT = 1000
ACQUISITION_CUSTOMER_CHANNEL_MAX_BYTES = 64
ACQUISITION_STATISTIC_MAX_DAYS = 30

# Customer moments (D95094): per corp, creates a minute and tasks a month; follow-up page sizes.
MOMENT_IMAGES_MAX = 9
MOMENT_CREATES_PER_MINUTE = 10
MOMENTS_PER_MONTH = 100_000
MOMENT_TASK_MAX_LIMIT = 1000
MOMENT_CUSTOMER_LIST_MAX_LIMIT = 1000
MOMENT_SEND_RESULT_MAX_LIMIT = 5000
