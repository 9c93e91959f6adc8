"""WeCom error codes the simulator answers with, and the exception that carries one out of a handler."""

from __future__ import annotations

SYSTEM_BUSY = -1
OK = 0
INVALID_SECRET = 40001
INVALID_USERID = 40003
INVALID_CORPID = 40013
INVALID_TOKEN = 40014
INVALID_USERID_LIST_SIZE = 40032
INVALID_AGENTID = 40056
INVALID_PARAMETER = 40058
INVALID_TAG_ID = 40068
TAG_NAME_EXISTS = 40071
INVALID_TAG_NAME_LENGTH = 40072
INVALID_EXTERNAL_USERID = 40096
NOT_RESIGNED = 40097
TAG_LIMIT = 40126
TRANSFER_TOO_FREQUENT = 40128
TRANSFER_IN_PROGRESS = 40129
TRANSFER_SAME_USER = 40130
NOT_FOLLOWER = 40131
TOKEN_MISSING = 41001
CORPID_MISSING = 41002
SECRET_MISSING = 41004
USERID_MISSING = 41009
EXTERNAL_USERID_MISSING = 41035
CONTACT_WAY_TYPE_MISSING = 41037
CONTACT_WAY_SCENE_MISSING = 41038
CONTACT_WAY_TYPE_INVALID = 41039
CONTACT_WAY_SCENE_INVALID = 41040
CONTACT_WAY_USERS_LIMIT = 41041
CONTACT_WAY_STYLE_INVALID = 41042
CONFIG_ID_MISSING = 41043
CONFIG_ID_INVALID = 41044
MSGID_MISSING = 41046
MSGID_INVALID = 41047
NO_CUSTOMER_TO_SEND = 41048
WELCOME_CODE_MISSING = 41049
WELCOME_CODE_INVALID = 41050
WELCOME_ALREADY_CHATTING = 41051
USER_NOT_ACTIVATED = 41054
MASS_DISPATCHING = 41063
ATTACHMENT_LIMIT = 41064
ATTACHMENT_TYPE_INVALID = 41065
MASS_CANCELLED = 41093
REMIND_TOO_FREQUENT = 41094
ACQUISITION_LINK_LIMIT = 41095
MOMENT_NOT_PUBLISHED = 41062
MOMENT_DISPATCHING = 41079
MOMENT_MONTH_LIMIT = 41210
TOKEN_EXPIRED = 42001
CONTENT_EMPTY = 44004
FREQUENCY_LIMIT = 45009
CONCURRENCY_LIMIT = 45033
CHAT_NOT_FOUND = 40050
INVALID_MSGTYPE = 40008
AGENTID_MISSING = 41011
NO_RECIPIENTS = 82001
PARTY_LIST_SIZE = 82002
TAG_LIST_SIZE = 82003
INVALID_DEPARTMENT = 60123
USERID_NOT_FOUND = 60111
ALL_RECIPIENTS_INVALID = 81013
NO_RELATIONSHIP = 84061
INVALID_MEDIA_TYPE = 40004
INVALID_FILE_TYPE = 40005
INVALID_FILE_SIZE = 40006
INVALID_MEDIA_ID = 40007
INVALID_IMAGE_SIZE = 40009
INVALID_VOICE_SIZE = 40010
INVALID_VIDEO_SIZE = 40011
MEDIA_DATA_MISSING = 41005
EMPTY_MEDIA = 44001
GROUP_WELCOME_TEMPLATE_LIMIT = 41055
JOIN_WAY_TOO_MANY_CHATS = 41091
GROUPCHAT_LIST_NEEDS_OWNER_FILTER = 81017
INVALID_OAUTH_CODE = 40029
OAUTH_CODE_MISSING = 41008

MESSAGES: dict[int, str] = {
    SYSTEM_BUSY: "system busy",
    OK: "ok",
    INVALID_SECRET: "invalid credential",
    INVALID_USERID: "invalid userid",
    INVALID_CORPID: "invalid corpid",
    INVALID_TOKEN: "invalid access_token",
    INVALID_USERID_LIST_SIZE: "invalid userid list size",
    INVALID_AGENTID: "invalid agentid",
    INVALID_PARAMETER: "invalid parameter",
    INVALID_TAG_ID: "invalid tagid",
    TAG_NAME_EXISTS: "invalid tag name, tag name already exists",
    INVALID_TAG_NAME_LENGTH: "invalid tag name length",
    INVALID_EXTERNAL_USERID: "invalid external userid",
    NOT_RESIGNED: "user has not resigned",
    TAG_LIMIT: "corp tag count reached limit (3000)",
    TRANSFER_TOO_FREQUENT: "transfer too frequent",
    TRANSFER_IN_PROGRESS: "customer is being transferred",
    TRANSFER_SAME_USER: "handover and takeover are the same user",
    NOT_FOLLOWER: "handover_userid is not a follower of the customer",
    TOKEN_MISSING: "access_token missing",
    CORPID_MISSING: "corpid missing",
    SECRET_MISSING: "secret missing",
    USERID_MISSING: "userid missing",
    EXTERNAL_USERID_MISSING: "external userid missing",
    CONTACT_WAY_TYPE_MISSING: "contact way type missing",
    CONTACT_WAY_SCENE_MISSING: "contact way scene missing",
    CONTACT_WAY_TYPE_INVALID: "invalid contact way type",
    CONTACT_WAY_SCENE_INVALID: "invalid contact way scene",
    CONTACT_WAY_USERS_LIMIT: "contact way user count exceeds limit",
    CONTACT_WAY_STYLE_INVALID: "invalid contact way style",
    CONFIG_ID_MISSING: "config_id missing",
    CONFIG_ID_INVALID: "invalid config_id",
    MSGID_MISSING: "msgid missing",
    MSGID_INVALID: "invalid msgid",
    NO_CUSTOMER_TO_SEND: "no customer to send",
    WELCOME_CODE_MISSING: "welcome_code missing",
    WELCOME_CODE_INVALID: "invalid welcome_code",
    WELCOME_ALREADY_CHATTING: "customer and member have already started chatting",
    USER_NOT_ACTIVATED: "user not activated",
    MASS_DISPATCHING: "mass message is being dispatched, try later",
    ATTACHMENT_LIMIT: "attachments exceed limit",
    ATTACHMENT_TYPE_INVALID: "invalid attachment type",
    MASS_CANCELLED: "mass message task cancelled",
    REMIND_TOO_FREQUENT: "mass message reminder over frequency",
    ACQUISITION_LINK_LIMIT: "customer acquisition link count reached limit",
    MOMENT_NOT_PUBLISHED: "the member has not published this moment",
    MOMENT_DISPATCHING: "moment task is being dispatched, try later",
    MOMENT_MONTH_LIMIT: "moment task count of this month reached limit",
    TOKEN_EXPIRED: "access_token expired",
    CONTENT_EMPTY: "empty content",
    FREQUENCY_LIMIT: "api freq out of limit",
    CONCURRENCY_LIMIT: "api concurrent out of limit",
    CHAT_NOT_FOUND: "chatid not found",
    INVALID_MSGTYPE: "invalid msgtype",
    AGENTID_MISSING: "agentid missing",
    NO_RECIPIENTS: "touser & toparty & totag all empty",
    PARTY_LIST_SIZE: "invalid partyid list size",
    TAG_LIST_SIZE: "invalid tagid list size",
    INVALID_DEPARTMENT: "invalid department id",
    USERID_NOT_FOUND: "userid not found",
    ALL_RECIPIENTS_INVALID: "all touser & toparty & totag invalid",
    NO_RELATIONSHIP: "no external contact relationship",
    INVALID_MEDIA_TYPE: "invalid media type",
    INVALID_FILE_TYPE: "invalid file type",
    INVALID_FILE_SIZE: "invalid file size",
    INVALID_MEDIA_ID: "invalid media_id",
    INVALID_IMAGE_SIZE: "invalid image size",
    INVALID_VOICE_SIZE: "invalid voice size",
    INVALID_VIDEO_SIZE: "invalid video size",
    MEDIA_DATA_MISSING: "media data missing",
    EMPTY_MEDIA: "empty media data",
    GROUP_WELCOME_TEMPLATE_LIMIT: "group welcome templates reached the limit (100)",
    JOIN_WAY_TOO_MANY_CHATS: "chat_id_list has more than 5 chats",
    GROUPCHAT_LIST_NEEDS_OWNER_FILTER: "more than 1000 people in the app's range: owner_filter required",
    INVALID_OAUTH_CODE: "invalid code",
    OAUTH_CODE_MISSING: "missing code",
}


class WeComError(Exception):
    """A WeCom error answer: the handler stops and the caller receives ``{"errcode": code, "errmsg": ...}``."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        base = MESSAGES.get(code, "error")
        self.message = f"{base}, {detail}" if detail else base
        super().__init__(code, self.message)

    def body(self) -> dict:
        """The JSON body WeCom would answer with."""
        return {"errcode": self.code, "errmsg": self.message}
