"""The tenant's WeChat apps for identifying who opens a shared page (`/v1/wechat`): the official account (appid,
secret, whether `snsapi_userinfo` may be asked for) and the mini-program (appid, secret). Secrets go to the secret
store and never come back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import rule
from chalicelib.domain.access import ADMINS, READERS

admin_wechat = Blueprint(__name__)

TAG = "wechat"
APPID = r"^wx[0-9a-f]{16}$"
SECRET = r"^[A-Za-z0-9]{16,64}$"  # noqa: S105 - a pattern, not a secret


@dataclass(frozen=True)
class WeChatAppsBody:
    oa_appid: str = field(default="", metadata=rule(pattern=APPID + "|^$", description="Official account appid"))
    oa_secret: str | None = field(default=None, metadata=rule(pattern=SECRET, description="Official account secret"))
    allow_userinfo: bool = field(
        default=False, metadata=rule(description="May ask for snsapi_userinfo when the silent step gives no unionid")
    )
    mp_appid: str = field(default="", metadata=rule(pattern=APPID + "|^$", description="Mini-program appid"))
    mp_secret: str | None = field(default=None, metadata=rule(pattern=SECRET, description="Mini-program secret"))


@admin_route(
    admin_wechat,
    "/v1/wechat",
    methods=["PUT"],
    roles=ADMINS,
    summary="Set the official account and mini-program that identify shared pages' viewers",
    tag=TAG,
    body=WeChatAppsBody,
    audit="wechat.configure",
)
def configure_wechat(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services import wechat_identity
    from chalicelib.store.wechat_accounts import WeChatApps

    body: WeChatAppsBody = call.body
    current = wechat_identity.configured_apps(call.principal.tenant_id)
    for appid, secret, was, name in (
        (body.oa_appid, body.oa_secret, current.oa_appid, "oa"),
        (body.mp_appid, body.mp_secret, current.mp_appid, "mp"),
    ):
        if appid and appid != was and secret is None:
            raise BadRequestError(f"{name}_secret: required with a new {name}_appid")
    apps = WeChatApps(body.oa_appid, body.allow_userinfo, body.mp_appid)
    stored = wechat_identity.configure(call.principal.tenant_id, apps, body.oa_secret, body.mp_secret)
    return {"wechat": stored.as_dict()}


@admin_route(admin_wechat, "/v1/wechat", methods=["GET"], roles=READERS, summary="The WeChat apps", tag=TAG)
def get_wechat(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services import wechat_identity

    return {"wechat": wechat_identity.configured_apps(call.principal.tenant_id).as_dict()}
