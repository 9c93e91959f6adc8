"""Receipts on moto: the same set ADDs whether sent 100 per transaction or one UpdateItem each; a transaction that
lost to another writer is sent again, anything else is raised."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError
from pynamodb.transactions import TransactWrite

from chalicelib.config import get_settings
from chalicelib.domain.audience import Receipt
from chalicelib.store.customers import CustomerStore
from chalicelib.store.dynamo import add_to_each
from chalicelib.store.groups import GroupStore
from chalicelib.store.receipts import ReachItem

AT = datetime(2026, 3, 10, 2, tzinfo=UTC)
LATER = datetime(2026, 3, 11, 2, tzinfo=UTC)


def cancelled(code: str, items: int) -> TransactWriteError:
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=[CancellationReason(code)] + [None] * (items - 1),
    )
    return TransactWriteError("cancelled", cause=cause)


@pytest.mark.parametrize("mode", ["transactions", "updates"])
def test_receipts_of_a_page_are_recorded_once_each_in_either_mode(aws, mode):
    store = CustomerStore("acme", replace(aws, receipt_writes=mode))
    customers = [f"wm{i:04d}" for i in range(250)]
    store.set_do_not_disturb("wm0007", True)
    assert store.record_receipts("bc1", AT, customers + customers[:10]) == 250
    store.record_receipts("bc1", AT, customers[:120])  # a replayed page adds nothing
    store.record_receipts("bc2", LATER, customers[-5:])
    cards = store.get_cards(customers)
    assert {ext: c.receipts for ext, c in cards.items() if len(c.receipts) != 1} == {
        ext: (Receipt("bc1", AT), Receipt("bc2", LATER)) for ext in customers[-5:]
    }
    assert all(c.receipts == (Receipt("bc1", AT),) for ext, c in cards.items() if ext not in customers[-5:])
    assert cards["wm0007"].do_not_disturb
    assert not cards["wm0008"].do_not_disturb


def test_group_receipts_are_written_the_same_way(aws):
    groups = GroupStore("acme", aws)
    groups.record_receipts("bc1", AT, [f"wr{i}" for i in range(130)])
    groups.record_receipts("bc1", AT, ["wr1"])
    found = groups.get_receipts([f"wr{i}" for i in range(131)])
    assert len(found) == 130
    assert set(found.values()) == {(Receipt("bc1", AT),)}


def test_a_transaction_that_lost_to_another_writer_is_sent_again(aws, monkeypatch):
    commit, failures, sleeps = TransactWrite._commit, ["TransactionConflict"], []

    def conflicting(self):
        if failures:
            raise cancelled(failures.pop(), len(self._update_items))
        return commit(self)

    monkeypatch.setattr(TransactWrite, "_commit", conflicting)
    items = [ReachItem(f"acme#cust#wm{i}", "reach") for i in range(3)]
    add_to_each(items, ReachItem.receipts.add({"t1"}), aws, sleep=sleeps.append)
    assert len(sleeps) == 1
    assert [ReachItem.get(i.pk, "reach").receipts for i in items] == [{"t1"}] * 3

    failures.append("ValidationError")
    with pytest.raises(TransactWriteError):
        add_to_each(items, ReachItem.receipts.add({"t2"}), aws, sleep=sleeps.append)
    failures.extend(["TransactionConflict"] * 3)
    with pytest.raises(TransactWriteError):
        add_to_each(items, ReachItem.receipts.add({"t3"}), aws, attempts=3, sleep=sleeps.append)
    assert len(sleeps) == 3


def test_an_unknown_receipt_write_mode_is_refused_at_startup():
    assert get_settings({"RECEIPT_WRITES": " Updates "}).receipt_writes == "updates"
    assert get_settings({}).receipt_writes == "transactions"
    with pytest.raises(ValueError, match="RECEIPT_WRITES must be one of transactions, updates"):
        get_settings({"RECEIPT_WRITES": "batch"})
