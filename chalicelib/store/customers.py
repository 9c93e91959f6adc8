"""One tenant's customers: profiles, follow relations with their tag memberships and cards, receipts, the corp
directory and audience streams, as one store.

Each family of items lives in a module of its own, with its item layout and invariants:

| items | module |
|---|---|
| customer profile `<t>#cust#<ext>` / `profile` | `customer_profiles` |
| follow relation `follow#<userid>`, audience card `card`, tag membership `<t>#tag#<tag_id>#<shard>` | `relations` |
| reach (receipts, do-not-disturb) `<t>#cust#<ext>` / `reach` | `receipts` |
| employees, departments, tag catalogue | `corp_directory` |
| the merged audience streams over memberships and relation indexes | `audience_streams` |

Every partition key starts with the tenant id, through `TenantKeys`.
"""

from __future__ import annotations

from chalicelib.store.audience_streams import AudienceStreams
from chalicelib.store.corp_directory import CorpDirectory
from chalicelib.store.customer_profiles import Profiles
from chalicelib.store.receipts import Receipts
from chalicelib.store.relations import Relations


class CustomerStore(Profiles, Relations, Receipts, CorpDirectory, AudienceStreams):
    """The customer data of one tenant; every key it builds begins with that tenant's id."""
