"""The state machines at work: each kind's path with stage times and event rows, and every other step refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from core import clock, events
from core.db import unit_of_work
from core.errors import DomainError, InvalidInput
from core.jobs import run_due_jobs
from orders.checkout import AddressIn, CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.models import STATUSES
from orders.place_order import place_order
from orders.status import TRANSITIONS, allowed_next
from orders.transition_order import accept_order, transition
from tests.integration.orders.factories import World, level, list_sku, make_store, movements_balance, north, world


def checkout(w: World, kind: str) -> CheckoutRequest:
    lat, lng = north(900)
    address = AddressIn("赵六", "13600000000", "福州路 1 号", lat, lng) if kind != "pickup" else None
    return CheckoutRequest(w.store_id, kind, [LineIn(w.sku_id, 2)], address=address)  # type: ignore[arg-type]


async def new_order(w: World, kind: str, key: str) -> int:
    async with unit_of_work() as s:
        return (await place_order(s, w.customer_id, checkout(w, kind), key)).order_id


async def step(order_id: int, to: str, **kw: object) -> None:
    async with unit_of_work() as s:
        await transition(s, order_id, to, "user:1", f"to {to}", **kw)  # type: ignore[arg-type]


async def paid(order_id: int) -> None:
    async with unit_of_work() as s:
        assert (await mark_paid(s, order_id, f"wx-{order_id}", clock.now())).outcome == "paid"


PATHS = {
    "pickup": ["preparing", "ready", "picked_up", "completed"],
    "delivery": ["preparing", "out_for_delivery", "delivered", "completed"],
    "urgent": ["dispatching", "accepted", "preparing", "out_for_delivery", "delivered", "completed"],
}


@pytest.mark.parametrize("kind", ["pickup", "delivery", "urgent"])
async def test_each_kind_walks_its_path_with_stage_times_and_events(clean: None, kind: str) -> None:
    delivered: list[int] = []

    async def on_delivered(session, event) -> None:  # type: ignore[no-untyped-def]
        delivered.append(event.order_id)

    events.subscribe(events.OrderDelivered, on_delivered)
    try:
        w = await world(stock=10)
        order_id = await new_order(w, kind, f"path-{kind}")
        await paid(order_id)
        for to in PATHS[kind]:
            if to == "accepted":
                async with unit_of_work() as s:
                    await accept_order(s, order_id, w.store_id, "user:1")
            else:
                await step(order_id, to)
            stock = await level(w.store_id, w.sku_id)
            # reserved until the goods leave the store, then sold
            sold = to in ("out_for_delivery", "picked_up") or PATHS[kind].index(to) > PATHS[kind].index(
                "out_for_delivery" if kind != "pickup" else "picked_up"
            )
            assert stock == ((8, 0) if sold else (10, 2)), (to, stock)
    finally:
        events._handlers[events.OrderDelivered].remove(on_delivered)
    async with unit_of_work() as s:
        o = (await s.execute(text("SELECT * FROM orders WHERE id = :id"), {"id": order_id})).one()
        story = (
            await s.execute(
                text("SELECT from_status, to_status, actor FROM order_events WHERE order_id = :id ORDER BY id"),
                {"id": order_id},
            )
        ).all()
    path = ["created", "paid", *PATHS[kind]]
    assert [(x.from_status, x.to_status) for x in story] == list(zip([None, *path], path, strict=False))
    stamps = [o.placed_at, o.paid_at, *(getattr(o, f"{s}_at") for s in PATHS[kind])]
    assert all(t is not None for t in stamps) and stamps == sorted(stamps)
    assert o.status == "completed"
    assert delivered == ([] if kind == "pickup" else [order_id])
    assert await movements_balance(w.store_id, w.sku_id)


async def test_fulfilment_does_not_start_before_payment_or_review(clean: None) -> None:
    w = await world(prescription=True)
    async with unit_of_work() as s:
        req = CheckoutRequest(
            w.store_id, "pickup", [LineIn(w.sku_id, 1)], prescription_url="https://img.example/rx.jpg"
        )
        order_id = (await place_order(s, w.customer_id, req, "rx-order-1")).order_id
    with pytest.raises(DomainError, match="cannot go from created to preparing"):
        await step(order_id, "preparing")
    await paid(order_id)
    with pytest.raises(DomainError, match="waits for its prescription review"):
        await step(order_id, "preparing")


async def test_handover_schedules_completion_after_the_store_setting(clean: None) -> None:
    w = await world()
    async with unit_of_work() as s:
        await s.execute(
            text(
                "INSERT INTO store_order_settings (store_id, payment_deadline_min, auto_complete_days) VALUES (:s, 15, 3)"
            ),
            {"s": w.store_id},
        )
    order_id = await new_order(w, "delivery", "auto-complete-1")
    await paid(order_id)
    for to in ("preparing", "out_for_delivery", "delivered"):
        await step(order_id, to)
    clock.advance(timedelta(days=2, hours=23))
    await run_due_jobs()
    async with unit_of_work() as s:
        assert await s.scalar(text("SELECT status FROM orders WHERE id = :id"), {"id": order_id}) == "delivered"
    clock.advance(timedelta(hours=2))
    await run_due_jobs()
    async with unit_of_work() as s:
        row = (await s.execute(text("SELECT status, completed_at FROM orders WHERE id = :id"), {"id": order_id})).one()
        actor = await s.scalar(
            text("SELECT actor FROM order_events WHERE order_id = :id AND to_status = 'completed'"), {"id": order_id}
        )
    assert row.status == "completed" and actor == "system"


async def test_payment_deadline_job_publishes_only_for_unpaid_orders(clean: None) -> None:
    seen: list[int] = []

    async def on_deadline(session, event) -> None:  # type: ignore[no-untyped-def]
        seen.append(event.order_id)

    events.subscribe(events.PaymentDeadlineReached, on_deadline)
    try:
        w = await world()
        unpaid = await new_order(w, "pickup", "deadline-unpaid")
        settled = await new_order(w, "pickup", "deadline-paid")
        await paid(settled)
        clock.advance(timedelta(minutes=14))
        await run_due_jobs()
        assert seen == []
        clock.advance(timedelta(minutes=2))
        await run_due_jobs()
        assert seen == [unpaid]
    finally:
        events._handlers[events.PaymentDeadlineReached].remove(on_deadline)
    async with unit_of_work() as s:
        jobs = dict(
            (await s.execute(text("SELECT payload->>'order_id', status FROM jobs ORDER BY id"))).all()  # type: ignore[arg-type]
        )
    assert jobs == {str(unpaid): "done", str(settled): "cancelled"}


async def test_urgent_accept_by_another_store_moves_the_reservation(clean: None) -> None:
    w = await world(stock=10)
    async with unit_of_work() as s:
        other = await make_store(s)
        await list_sku(s, other, w.sku_id, stock=4)
    order_id = await new_order(w, "urgent", "urgent-move-1")
    await paid(order_id)
    await step(order_id, "dispatching")
    async with unit_of_work() as s:
        await accept_order(s, order_id, other, "user:9", "claimed")
    assert await level(w.store_id, w.sku_id) == (10, 0)
    assert await level(other, w.sku_id) == (4, 2)
    async with unit_of_work() as s:
        assert await s.scalar(text("SELECT fulfil_store_id FROM orders WHERE id = :id"), {"id": order_id}) == other


async def order_in(w: World, kind: str, status: str, n: int) -> int:
    """An order forced into `status` (test setup only: the guard under test is what happens next)."""
    order_id = await new_order(w, kind, f"forced-{kind}-{status}-{n}")
    async with unit_of_work() as s:
        await s.execute(
            text(
                "UPDATE orders SET status = CAST(:st AS text), ready_for_fulfilment_at = now(), paid_fen = cash_due_fen, "
                "payment_ref = CASE WHEN CAST(:st AS text) <> 'created' THEN 'wx-forced' END, fulfil_store_id = store_id "
                "WHERE id = :id"
            ),
            {"st": status, "id": order_id},
        )
    return order_id


@pytest.mark.parametrize("kind", sorted(TRANSITIONS))
async def test_every_disallowed_transition_is_refused(clean: None, kind: str) -> None:
    w = await world(stock=1000)
    refused = 0
    for n, status in enumerate(STATUSES):
        order_id = await order_in(w, kind, status, n)
        for to in STATUSES:
            allowed = to in allowed_next(kind, status)
            if allowed and to not in ("paid", "reviewing"):
                continue
            if status == to == "cancelled":  # cancelling twice is an idempotent no-op, not a step
                await step(order_id, to)
                continue
            with pytest.raises(DomainError) as err:
                if to == "accepted":
                    async with unit_of_work() as s:
                        await accept_order(s, order_id, w.store_id, "user:1")
                else:
                    await step(order_id, to)
            assert err.value.status_code in (400, 409), (status, to, err.value.detail)
            if to in ("paid", "reviewing"):
                assert isinstance(err.value, InvalidInput) and "mark_paid" in err.value.detail
            refused += 1
            async with unit_of_work() as s:
                now = await s.scalar(text("SELECT status FROM orders WHERE id = :id"), {"id": order_id})
            assert now == status, (status, to)
        # the payment step itself: only from created
        async with unit_of_work() as s:
            result = await mark_paid(s, order_id, "wx-late", clock.now())
        assert (result.outcome == "paid") == (status == "created"), (status, result)
    assert refused > 100
    async with unit_of_work() as s:
        bad = await s.scalar(
            text(
                "SELECT count(*) FROM order_events e JOIN orders o ON o.id = e.order_id "
                "WHERE e.kind = 'status' AND e.from_status IS NOT NULL AND e.from_status <> 'created'"
            )
        )
    assert bad == 0  # no refused step left an event row behind
