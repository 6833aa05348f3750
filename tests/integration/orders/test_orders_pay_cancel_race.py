"""mark_paid racing cancel_order, both ways round and both interleavings: exactly one outcome each time.

Either the order is cancelled unpaid and the late payment is reported for refund, or it is paid and then
(for a customer cancel) cancelled with the paid amount due back, or (for the payment deadline) stays paid.
Stock is released at most once, OrderCancelled is published at most once, the events tell one story.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from core import clock, events
from core.db import unit_of_work
from orders.cancel_order import cancel_order
from orders.checkout import CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.place_order import place_order
from tests.integration.orders.factories import level, movements_balance, world
from tests.integration.orders.race import RunAfter, RunBefore, start_blocked


@pytest.fixture
def cancelled_events():  # type: ignore[no-untyped-def]
    seen: list[events.OrderCancelled] = []

    async def record(session, event) -> None:  # type: ignore[no-untyped-def]
        seen.append(event)

    events.subscribe(events.OrderCancelled, record)
    yield seen
    events._handlers[events.OrderCancelled].remove(record)


async def placed_order() -> tuple[int, int, int]:
    w = await world(price_fen=1500, stock=5)
    async with unit_of_work() as s:
        placed = await place_order(
            s, w.customer_id, CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 2)]), "race-order-1"
        )
    return placed.order_id, w.store_id, w.sku_id


async def pay(order_id: int) -> object:
    async with unit_of_work() as s:
        return await mark_paid(s, order_id, "wx-txn-1", clock.now())


async def cancel(order_id: int, *, unpaid_only: bool = False) -> object:
    async with unit_of_work() as s:
        return await cancel_order(s, order_id, "customer:1", "changed my mind", unpaid_only=unpaid_only)


async def order_row(order_id: int):  # type: ignore[no-untyped-def]
    async with unit_of_work() as s:
        row = (await s.execute(text("SELECT * FROM orders WHERE id = :id"), {"id": order_id})).one()
        story = (
            await s.execute(
                text("SELECT kind, from_status, to_status FROM order_events WHERE order_id = :id ORDER BY id"),
                {"id": order_id},
            )
        ).all()
    return row, [tuple(x) for x in story]


async def assert_cancelled_unpaid(order_id: int, store_id: int, sku_id: int, paid: object, seen: list) -> None:
    row, story = await order_row(order_id)
    assert row.status == "cancelled" and row.paid_fen == 0 and row.paid_at is None
    assert paid.outcome == "order_cancelled" and paid.refund_due_fen == 3000  # type: ignore[attr-defined]
    assert [e.refund_due_fen for e in seen] == [0]
    assert story == [
        ("status", None, "created"),
        ("status", "created", "cancelled"),
        ("order_cancelled", "cancelled", "cancelled"),
    ]
    assert await level(store_id, sku_id) == (5, 0)
    assert await movements_balance(store_id, sku_id)


async def assert_paid_then_cancelled(order_id: int, store_id: int, sku_id: int, paid: object, seen: list) -> None:
    row, story = await order_row(order_id)
    assert paid.outcome == "paid"  # type: ignore[attr-defined]
    assert row.status == "cancelled" and row.paid_fen == 3000
    assert [e.refund_due_fen for e in seen] == [3000]
    assert story == [("status", None, "created"), ("status", "created", "paid"), ("status", "paid", "cancelled")]
    assert await level(store_id, sku_id) == (5, 0)
    assert await movements_balance(store_id, sku_id)


async def test_cancel_commits_before_mark_paid_writes(clean: None, cancelled_events: list) -> None:
    order_id, store, sku = await placed_order()
    with RunBefore("orders.mark_paid.record_payment", lambda *a, **k: cancel(order_id)):
        paid = await pay(order_id)
    await assert_cancelled_unpaid(order_id, store, sku, paid, cancelled_events)


async def test_mark_paid_commits_before_cancel_writes(clean: None, cancelled_events: list) -> None:
    order_id, store, sku = await placed_order()
    results: list[object] = []

    async def pay_first(*_: object, **__: object) -> None:
        results.append(await pay(order_id))

    with RunBefore("orders.cancel_order.apply_step", pay_first):
        await cancel(order_id)
    await assert_paid_then_cancelled(order_id, store, sku, results[0], cancelled_events)


async def test_cancel_waits_for_the_uncommitted_payment(clean: None, cancelled_events: list) -> None:
    order_id, store, sku = await placed_order()
    waiting: list[asyncio.Task] = []

    async def start_cancel(*_: object, **__: object) -> None:
        waiting.append(await start_blocked(lambda: cancel(order_id)))

    with RunAfter("orders.mark_paid.record_payment", start_cancel):
        paid = await pay(order_id)
    await waiting[0]
    await assert_paid_then_cancelled(order_id, store, sku, paid, cancelled_events)


async def test_payment_waits_for_the_uncommitted_cancel(clean: None, cancelled_events: list) -> None:
    order_id, store, sku = await placed_order()
    waiting: list[asyncio.Task] = []

    async def start_pay(*_: object, **__: object) -> None:
        waiting.append(await start_blocked(lambda: pay(order_id)))

    with RunAfter("orders.cancel_order.apply_step", start_pay):
        await cancel(order_id)
    paid = await waiting[0]
    await assert_cancelled_unpaid(order_id, store, sku, paid, cancelled_events)


@pytest.mark.parametrize("payment_first", [True, False])
async def test_deadline_cancel_never_cancels_a_paid_order(
    clean: None, cancelled_events: list, payment_first: bool
) -> None:
    """The payment-deadline cancel (unpaid_only) racing the payment: paid wins or cancel wins, never both."""
    order_id, store, sku = await placed_order()
    if payment_first:
        outcomes: list[object] = []

        async def pay_first(*_: object, **__: object) -> None:
            outcomes.append(await pay(order_id))

        with RunBefore("orders.cancel_order.apply_step", pay_first):
            done = await cancel(order_id, unpaid_only=True)
        # the payment committed between the cancel's read and its write: the order stays paid
        row, story = await order_row(order_id)
        assert done.outcome == "paid_meanwhile"  # type: ignore[attr-defined]
        assert row.status == "paid" and cancelled_events == []
        assert story == [("status", None, "created"), ("status", "created", "paid")]
        assert await level(store, sku) == (5, 2)
    else:
        with RunBefore("orders.mark_paid.record_payment", lambda *a, **k: cancel(order_id, unpaid_only=True)):
            paid = await pay(order_id)
        await assert_cancelled_unpaid(order_id, store, sku, paid, cancelled_events)
