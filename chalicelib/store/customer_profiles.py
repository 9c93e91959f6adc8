"""Customer profiles (name, type, corp) of one tenant: `<t>#cust#<ext>` / `profile` on the data table.

A profile with a unionid is in the sparse index gsi1 `<t>#unionid#<unionid>` / `<ext>`: a shared page's viewer whom
WeChat names by unionid is matched to the tenant's customer with one Query. Every profile write (the sync's batch,
the event worker's upsert) goes through `profile_item`, so the index follows the profile.

A profile carries the WeCom event time of what it says; a write with an older event time never overwrites newer data
(a conditional write; an equal time rewrites, so a redelivered event is harmless).
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.store.customer_base import CustomerBase
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.tables import on_table


class ByUnionidIndex(GlobalSecondaryIndex["ProfileItem"]):
    """The tenant's customer with a given unionid."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


@on_table(resources.DATA)
class ProfileItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_unionid = ByUnionidIndex()
    external_userid = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    type = NumberAttribute(null=True)
    gender = NumberAttribute(null=True)
    unionid = UnicodeAttribute(null=True)
    corp_name = UnicodeAttribute(null=True)
    avatar = UnicodeAttribute(null=True)
    event_time = NumberAttribute()


@dataclass(frozen=True)
class CustomerProfile:
    external_userid: str
    event_time: int
    name: str = ""
    type: int = 0
    gender: int = 0
    unionid: str = ""
    corp_name: str = ""
    avatar: str = ""


class Profiles(CustomerBase):
    """Reads and writes of customer profiles (part of `CustomerStore`)."""

    def profile_item(self, profile: CustomerProfile) -> ProfileItem:
        """The stored form of a profile (indexed by its unionid when it has one)."""
        return ProfileItem(
            self._cust(profile.external_userid),
            "profile",
            gsi1pk=self._unionid_key(profile.unionid) if profile.unionid else None,
            gsi1sk=profile.external_userid if profile.unionid else None,
            external_userid=profile.external_userid,
            name=profile.name or None,
            type=profile.type,
            gender=profile.gender,
            unionid=profile.unionid or None,
            corp_name=profile.corp_name or None,
            avatar=profile.avatar or None,
            event_time=profile.event_time,
        )

    def upsert_profile(self, profile: CustomerProfile) -> bool:
        """Write a profile unless a newer one is stored; False when it was older and nothing changed."""
        item = self.profile_item(profile)
        try:
            item.save(condition=ProfileItem.pk.does_not_exist() | (ProfileItem.event_time <= profile.event_time))
        except PutError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def get_profile(self, external_userid: str) -> CustomerProfile | None:
        try:
            item = ProfileItem.get(self._cust(external_userid), "profile")
        except DoesNotExist:
            return None
        return CustomerProfile(
            item.external_userid,
            int(item.event_time),
            item.name or "",
            int(item.type or 0),
            int(item.gender or 0),
            item.unionid or "",
            item.corp_name or "",
            item.avatar or "",
        )

    def customer_of_unionid(self, unionid: str) -> str | None:
        """The external userid of the tenant's customer with this unionid (one Query on gsi1), or None."""
        if not unionid:
            return None
        for item in ProfileItem.by_unionid.query(self._unionid_key(unionid), limit=1):
            return item.external_userid
        return None

    def _unionid_key(self, unionid: str) -> str:
        return self.keys.key("unionid", unionid)
