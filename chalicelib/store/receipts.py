"""What mass messages each customer got and whether they asked not to be disturbed: the reach item
`<t>#cust#<ext>` / `reach` on the data table, and the planner's read of cards with it.

Reach items are written only by the mass-message side and cards only by the customer side, so neither overwrites the
other. Receipts are a string set of `<at:010d>#<broadcast_id>` tokens: adding one is an idempotent set ADD.

A planner records a page's receipts (up to 1,000) in TransactWriteItems of 100 ADDs by default: on the local stack
each request costs moto ~3 ms whatever its size, so one UpdateItem per customer made receipts 95 % of planning's
requests and most of its time; on AWS it saves the Lambda's per-request CPU (signing, serialising) at twice the write
units (one more unit per recipient: ~0.6 USD per million on demand). `RECEIPT_WRITES=updates` keeps one UpdateItem per
customer for a stage where write units cost more than planning time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.domain.audience import CustomerCard, Receipt
from chalicelib.store.customer_base import CustomerBase
from chalicelib.store.dynamo import add_to_each
from chalicelib.store.relations import CardItem, card_from_json
from chalicelib.store.tables import on_table

RECEIPT_WORKERS = 8


@on_table(resources.DATA)
class ReachItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    receipts = UnicodeSetAttribute(null=True)
    do_not_disturb = BooleanAttribute(null=True)


def receipt_token(receipt: Receipt) -> str:
    return f"{int(receipt.at.timestamp()):010d}#{receipt.broadcast_id}"


def receipt_from_token(token: str) -> Receipt:
    at, broadcast_id = token.split("#", 1)
    return Receipt(broadcast_id, datetime.fromtimestamp(int(at), UTC))


class Receipts(CustomerBase):
    """Cards with receipts and do-not-disturb for planning, and the writes of the mass-message side (part of
    `CustomerStore`)."""

    def get_cards(self, external_userids: Iterable[str]) -> dict[str, CustomerCard]:
        """The cards of these customers with their receipts and do-not-disturb flag (BatchGet, 100 keys per call)."""
        wanted = set(external_userids)
        relations = {
            i.pk: card_from_json(i.relations) for i in CardItem.batch_get([(self._cust(e), "card") for e in wanted])
        }
        reach = {i.pk: i for i in ReachItem.batch_get([(self._cust(e), "reach") for e in wanted])}
        cards = {}
        for ext in wanted:
            pk = self._cust(ext)
            item = reach.get(pk)
            receipts = (
                tuple(sorted((receipt_from_token(t) for t in (item.receipts or ())), key=lambda r: r.at))
                if item
                else ()
            )
            cards[ext] = CustomerCard(ext, relations.get(pk, ()), receipts, bool(item and item.do_not_disturb))
        return cards

    def record_receipts(
        self, broadcast_id: str, at: datetime, external_userids: Iterable[str], workers: int = RECEIPT_WORKERS
    ) -> int:
        """Note that these customers get `broadcast_id` at `at` (an idempotent set ADD each, in transactions of 100
        unless `RECEIPT_WRITES=updates`); returns how many customers."""
        token = receipt_token(Receipt(broadcast_id, at))
        items = [ReachItem(self._cust(ext), "reach") for ext in dict.fromkeys(external_userids)]
        add_to_each(items, ReachItem.receipts.add({token}), self.settings, workers=workers)
        return len(items)

    def forget_receipts(self, external_userid: str, receipts: Iterable[Receipt]) -> None:
        """Delete receipts that can no longer matter (see `frequency.expired_receipts`)."""
        tokens = {receipt_token(r) for r in receipts}
        if tokens:
            ReachItem(self._cust(external_userid), "reach").update(actions=[ReachItem.receipts.delete(tokens)])

    def set_do_not_disturb(self, external_userid: str, on: bool) -> None:
        ReachItem(self._cust(external_userid), "reach").update(actions=[ReachItem.do_not_disturb.set(on)])
