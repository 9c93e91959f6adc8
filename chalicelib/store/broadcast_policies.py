"""A tenant's mass-message policy: `<t>#bcpolicy` / `policy` on the data table, its JSON in `body`."""

from __future__ import annotations

import json

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.domain.broadcast_policy import Policy
from chalicelib.store.broadcast_base import BroadcastBase
from chalicelib.store.tables import on_table


@on_table(resources.DATA)
class PolicyItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    body = UnicodeAttribute()


class BroadcastPolicies(BroadcastBase):
    """The tenant's mass-message policy, the default until one is saved (part of `BroadcastStore`)."""

    def get_policy(self) -> Policy:
        try:
            return Policy.from_json(json.loads(PolicyItem.get(self.keys.key("bcpolicy"), "policy").body))
        except DoesNotExist:
            return Policy()

    def put_policy(self, policy: Policy) -> None:
        PolicyItem(self.keys.key("bcpolicy"), "policy", body=json.dumps(policy.to_json())).save()
