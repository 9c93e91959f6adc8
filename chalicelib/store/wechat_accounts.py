"""A tenant's WeChat apps for identifying a shared page's viewer: its official account (web OAuth) and mini-program.

The appids and the `allow_userinfo` choice are one item `<t>#wechat` / `apps` on the data table; the two secrets are
SecureString parameters next to the tenant's WeCom secrets (`store.secrets`), never in the table or an answer.
A viewer's openid whose unionid WeChat gave once is remembered (`<t>#wxopenid#<openid>` / `unionid`), so the next
visit needs only the silent `snsapi_base` step.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.store import secrets as tenant_secrets
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table

OA_SECRET = "wechat_oa_secret"  # noqa: S105 - parameter names, not secrets
MP_SECRET = "wechat_mp_secret"  # noqa: S105


@on_table(resources.DATA)
class WeChatAppsItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    oa_appid = UnicodeAttribute(null=True)
    allow_userinfo = BooleanAttribute(default=False)
    mp_appid = UnicodeAttribute(null=True)
    updated_at = NumberAttribute()


@on_table(resources.DATA)
class OpenidItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    unionid = UnicodeAttribute()
    seen_at = NumberAttribute()


@dataclass(frozen=True)
class WeChatApps:
    """The tenant's official account and mini-program (empty appid: not configured); no secrets."""

    oa_appid: str = ""
    allow_userinfo: bool = False
    mp_appid: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"oa_appid": self.oa_appid, "allow_userinfo": self.allow_userinfo, "mp_appid": self.mp_appid}


class WeChatAccounts:
    """One tenant's WeChat apps, their secrets and the openids it has matched to unionids."""

    def __init__(self, tenant_id: str) -> None:
        self.keys = TenantKeys(tenant_id)
        self.tenant_id = tenant_id
        bind_models()

    def put(self, apps: WeChatApps, oa_secret: str | None, mp_secret: str | None, now: int) -> None:
        """Store the apps; a secret given replaces the stored one, None keeps it."""
        for name, secret in ((OA_SECRET, oa_secret), (MP_SECRET, mp_secret)):
            if secret is not None:
                tenant_secrets.put_parameter(self.tenant_id, name, secret, overwrite=True)
        WeChatAppsItem(
            self.keys.key("wechat"),
            "apps",
            oa_appid=apps.oa_appid or None,
            allow_userinfo=apps.allow_userinfo,
            mp_appid=apps.mp_appid or None,
            updated_at=now,
        ).save()

    def get(self) -> WeChatApps:
        try:
            item = WeChatAppsItem.get(self.keys.key("wechat"), "apps")
        except DoesNotExist:
            return WeChatApps()
        return WeChatApps(item.oa_appid or "", bool(item.allow_userinfo), item.mp_appid or "")

    def secret(self, name: str) -> str:
        """The decrypted secret `OA_SECRET` or `MP_SECRET` ("" when never set)."""
        return tenant_secrets.get_parameter(self.tenant_id, name) or ""

    def remember_unionid(self, openid: str, unionid: str, now: int) -> None:
        OpenidItem(self.keys.key("wxopenid", openid), "unionid", unionid=unionid, seen_at=now).save()

    def unionid_of(self, openid: str) -> str:
        """The unionid WeChat once gave for this openid ("" when never)."""
        try:
            return OpenidItem.get(self.keys.key("wxopenid", openid), "unionid").unionid
        except DoesNotExist:
            return ""
