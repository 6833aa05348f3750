"""Prescription review (approve → ready for fulfilment; reject → cancelled, refunded in full) and after-sales refunds."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core import clock, events
from core.db import unit_of_work
from core.errors import DomainError
from orders.after_sales import RefundLine, decide_refund, request_refund
from orders.cancel_order import customer_cancel, decide_cancel_request
from orders.checkout import CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.place_order import place_order
from orders.review_prescription import review_prescription
from orders.transition_order import transition
from tests.integration.orders.factories import level, list_sku, make_sku, movements_balance, world


@pytest.fixture
def published():  # type: ignore[no-untyped-def]
    seen: list[events.Event] = []

    async def record(session, event) -> None:  # type: ignore[no-untyped-def]
        seen.append(event)

    kinds = (events.OrderPaid, events.OrderReadyForFulfilment, events.OrderCancelled, events.RefundApproved)
    for k in kinds:
        events.subscribe(k, record)
    yield seen
    for k in kinds:
        events._handlers[k].remove(record)


async def rx_order() -> tuple[int, int, int]:
    w = await world(price_fen=2000, prescription=True, stock=5)
    req = CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 1)], prescription_url="https://img.example/rx/1.jpg")
    async with unit_of_work() as s:
        order_id = (await place_order(s, w.customer_id, req, "rx-key-0001")).order_id
        applied = await mark_paid(s, order_id, "wx-rx-1", clock.now())
    assert applied.status == "reviewing"
    return order_id, w.store_id, w.sku_id


async def test_approval_makes_the_order_ready_for_fulfilment(clean: None, published: list) -> None:
    order_id, _, _ = await rx_order()
    assert [type(e).__name__ for e in published] == ["OrderPaid"]  # not ready yet: review first
    async with unit_of_work() as s:
        await review_prescription(s, order_id, True, "user:3", "处方有效")
    assert [type(e).__name__ for e in published] == ["OrderPaid", "OrderReadyForFulfilment"]
    async with unit_of_work() as s:
        await transition(s, order_id, "preparing", "user:3")
        row = (await s.execute(text("SELECT * FROM orders WHERE id = :id"), {"id": order_id})).one()
    assert (row.status, row.review_status, row.reviewed_by) == ("preparing", "approved", "user:3")
    assert row.paid_at <= row.reviewing_at <= row.reviewed_at <= row.preparing_at
    with pytest.raises(DomainError, match="no pending prescription review"):
        async with unit_of_work() as s:
            await review_prescription(s, order_id, False, "user:3", "too late")


async def test_rejection_cancels_and_refunds_in_full(clean: None, published: list) -> None:
    order_id, store, sku = await rx_order()
    with pytest.raises(DomainError, match="say why"):
        async with unit_of_work() as s:
            await review_prescription(s, order_id, False, "user:3", "")
    async with unit_of_work() as s:
        await review_prescription(s, order_id, False, "user:3", "处方已过期")
    cancelled = [e for e in published if isinstance(e, events.OrderCancelled)]
    assert len(cancelled) == 1 and cancelled[0].refund_due_fen == 2000
    assert "处方已过期" in cancelled[0].reason
    assert await level(store, sku) == (5, 0)
    assert not any(isinstance(e, events.OrderReadyForFulfilment) for e in published)


async def delivered_order(qtys: tuple[int, ...] = (3, 1)) -> tuple[int, int, list[int]]:
    w = await world(price_fen=1000, stock=20)
    async with unit_of_work() as s:
        second = await make_sku(s, price_fen=333)
        await list_sku(s, w.store_id, second, stock=20)
    skus = [w.sku_id, second]
    req = CheckoutRequest(w.store_id, "pickup", [LineIn(k, q) for k, q in zip(skus, qtys, strict=True)])
    async with unit_of_work() as s:
        order_id = (await place_order(s, w.customer_id, req, "refund-key-1")).order_id
        await mark_paid(s, order_id, "wx-refund-1", clock.now())
        for to in ("preparing", "ready", "picked_up"):
            await transition(s, order_id, to, "user:2")
    return order_id, w.store_id, skus


async def test_line_refunds_add_up_and_return_goods_to_stock(clean: None, published: list) -> None:
    order_id, store, (a, b) = await delivered_order()
    assert await level(store, a) == (17, 0)
    async with unit_of_work() as s:
        first = await request_refund(s, order_id, "customer:1", "坏了两盒", lines=[RefundLine(a, 2)])
    assert first.amount_fen == 2000
    with pytest.raises(DomainError, match="still open"):
        async with unit_of_work() as s:
            await request_refund(s, order_id, "customer:1", "还有一个", lines=[RefundLine(b, 1)])
    async with unit_of_work() as s:
        await decide_refund(s, first.id, True, "user:2", "ok", goods_returned=True)
    assert await level(store, a) == (19, 0)
    async with unit_of_work() as s:
        rest = await request_refund(s, order_id, "customer:1", "全部退了")  # the whole rest
    assert rest.amount_fen == 1000 + 333
    assert {(x["sku_id"], x["qty"]) for x in rest.lines} == {(a, 1), (b, 1)}
    async with unit_of_work() as s:
        await decide_refund(s, rest.id, True, "user:2", "ok")
        row = (
            await s.execute(text("SELECT paid_fen, refunded_fen FROM orders WHERE id = :id"), {"id": order_id})
        ).one()
    assert row.paid_fen == row.refunded_fen == 3333
    approved = [e.amount_fen for e in published if isinstance(e, events.RefundApproved)]
    assert approved == [2000, 1333]
    with pytest.raises(DomainError, match="nothing is left to refund"):
        async with unit_of_work() as s:
            await request_refund(s, order_id, "customer:1", "again")
    assert await movements_balance(store, a)


async def test_refunds_only_after_handover_and_rejections_need_a_reason(clean: None) -> None:
    w = await world()
    async with unit_of_work() as s:
        order_id = (
            await place_order(
                s, w.customer_id, CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 1)]), "refund-order-2"
            )
        ).order_id
    with pytest.raises(DomainError, match="cancel it"):
        async with unit_of_work() as s:
            await request_refund(s, order_id, "customer:1", "不要了")
    order_id, _, (a, _) = await delivered_order()
    async with unit_of_work() as s:
        r = await request_refund(
            s, order_id, "customer:1", "坏了", lines=[RefundLine(a, 1)], photo_urls=["https://x/1.jpg"]
        )
    with pytest.raises(DomainError, match="say why"):
        async with unit_of_work() as s:
            await decide_refund(s, r.id, False, "user:2", " ")
    async with unit_of_work() as s:
        done = await decide_refund(s, r.id, False, "user:2", "未见损坏")
    assert done.status == "rejected"
    with pytest.raises(DomainError, match="already rejected"):
        async with unit_of_work() as s:
            await decide_refund(s, r.id, True, "user:2")


async def test_customer_cancel_is_a_request_once_preparing(clean: None, published: list) -> None:
    w = await world(stock=5)
    async with unit_of_work() as s:
        order_id = (
            await place_order(
                s, w.customer_id, CheckoutRequest(w.store_id, "pickup", [LineIn(w.sku_id, 1)]), "cancel-req-1"
            )
        ).order_id
        await mark_paid(s, order_id, "wx-cc-1", clock.now())
        await transition(s, order_id, "preparing", "user:2")
    async with unit_of_work() as s:
        asked = await customer_cancel(s, order_id, w.customer_id, "买错了")
    assert asked.outcome == "requested"
    async with unit_of_work() as s:
        await decide_cancel_request(s, order_id, False, "user:2", "已经做好了")
    async with unit_of_work() as s:
        assert (await customer_cancel(s, order_id, w.customer_id, "还是不要了")).outcome == "requested"
        done = await decide_cancel_request(s, order_id, True, "user:2")
    assert done is not None and done.refund_due_fen == 1000
    assert await level(w.store_id, w.sku_id) == (5, 0)
    async with unit_of_work() as s:
        kinds = (
            (await s.execute(text("SELECT kind FROM order_events WHERE order_id = :id ORDER BY id"), {"id": order_id}))
            .scalars()
            .all()
        )
    assert kinds == ["status", "status", "status", "cancel_requested", "cancel_declined", "cancel_requested", "status"]
