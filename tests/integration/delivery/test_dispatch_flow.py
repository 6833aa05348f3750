"""The dispatch path end to end on services: ring 1 to the nearest three, a claim, stages, the handoff, the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import clock, events
from core.db import unit_of_work
from core.jobs import run_due_jobs
from delivery.advance_stage import move_stage
from delivery.claim_offer import claim_offer
from delivery.deliver_order import deliver_with_code
from delivery.order_facts import order_facts
from delivery.queries import timeline
from tests.integration.delivery.city import (
    build_city,
    dispatch_row,
    handoff_code,
    kinds,
    offers,
    order_status,
    paid_urgent_order,
    rows,
)
from tests.integration.orders.factories import level


@pytest.fixture
def published():  # type: ignore[no-untyped-def]
    seen: list[events.Event] = []

    async def spy(session, event) -> None:  # type: ignore[no-untyped-def]
        seen.append(event)

    watched = (events.DispatchAccepted, events.OrderDelivered, events.OrderCancelled)
    for k in watched:
        events.subscribe(k, spy)
    yield seen
    for k in watched:
        events._handlers[k].remove(spy)


async def test_urgent_order_is_offered_claimed_and_delivered_with_the_code(clean: None, published: list) -> None:
    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city)
    assert await order_status(order_id) == "dispatching"
    ring1 = await offers(order_id)
    assert [o.store_id for o in ring1] == city.stores[:3]
    assert {o.status for o in ring1} == {"open"} and {o.ring for o in ring1} == {1}
    d = await dispatch_row(order_id)
    assert d.status == "offering" and d.promise_at == d.paid_at + timedelta(minutes=60)
    assert await level(city.origin, city.sku_id) == (20, 1)

    clock.advance(40)
    winner = ring1[1]
    async with unit_of_work() as s:
        done = await claim_offer(s, winner.id, actor="user:7")
    assert done.store_id == city.stores[1] and sorted(done.withdrawn_stores) == sorted([city.stores[0], city.stores[2]])
    after = {o.store_id: o.status for o in await offers(order_id)}
    assert after == {city.stores[0]: "withdrawn", city.stores[1]: "accepted", city.stores[2]: "withdrawn"}
    assert await order_status(order_id) == "accepted"
    # the reservation moved to the claiming store
    assert await level(city.origin, city.sku_id) == (20, 0)
    assert await level(city.stores[1], city.sku_id) == (20, 1)
    assert [type(e).__name__ for e in published] == ["DispatchAccepted"]
    assert published[0].store_id == city.stores[1]

    for stage in ("preparing", "out_for_delivery"):
        clock.advance(300)
        async with unit_of_work() as s:
            await move_stage(s, order_id, stage, actor="user:7", store_id=city.stores[1])
    clock.advance(600)
    async with unit_of_work() as s:
        result = await deliver_with_code(
            s, order_id, await handoff_code(order_id), actor="user:7", store_id=city.stores[1]
        )
    assert result.delivered
    assert await order_status(order_id) == "delivered"
    d = await dispatch_row(order_id)
    assert d.status == "delivered" and d.delivered_at is not None
    assert d.accepted_at < d.preparing_at < d.out_for_delivery_at < d.delivered_at <= d.promise_at
    assert await level(city.stores[1], city.sku_id) == (19, 0)  # sold when it left the store

    # the timeline tells the whole story, in order
    story = await kinds(order_id)
    assert story[:2] == ["created", "candidates"]
    assert story.count("offer_sent") == 3 and story.count("offer_withdrawn") == 2
    assert story.index("offer_claimed") < story.index("offer_withdrawn")
    assert story[-4:] == ["stage", "stage", "handoff_verified", "stage"]
    async with unit_of_work() as s:
        t = await timeline(s, await order_facts(s, order_id))
    assert [e.kind for e in t.entries] == story
    assert t.entries[1].data["ranked"][0]["store_id"] == city.stores[0]
    assert t.stages.delivered_at == d.delivered_at
    # nothing left to run but the SLA checks, which find the order on time
    clock.advance(3600)
    await run_due_jobs()
    assert "risk" not in await kinds(order_id)


async def test_candidates_leave_out_busy_far_out_of_stock_and_full_stores(clean: None) -> None:
    clock.freeze()
    city = await build_city(distances=(200, 400, 600, 800, 1000, 7000), stock=[20, 0, 20, 20, 20, 20])
    from delivery.toggle_busy import set_busy
    from shop.audit import SYSTEM

    async with unit_of_work() as s:
        await set_busy(s, city.stores[2], True, SYSTEM, minutes=30, reason="人手不足")
    order_id = await paid_urgent_order(city)
    offered = [o.store_id for o in await offers(order_id)]
    assert offered == [city.stores[0], city.stores[3], city.stores[4]]
    decision = (await rows("SELECT data FROM dispatch_events WHERE order_id = :o AND kind = 'candidates'", o=order_id))[
        0
    ][0]
    assert decision["excluded"][str(city.stores[1])] == "some items out of stock"
    assert decision["excluded"][str(city.stores[2])].startswith("busy")
    assert str(city.stores[5]) not in {str(c["store_id"]) for c in decision["ranked"]}  # 7 km: outside its 5 km radius


async def test_a_claim_without_stock_fails_cleanly_and_another_store_can_claim(clean: None) -> None:
    from delivery.errors import ClaimWithoutStock
    from tests.integration.delivery.city import scalar

    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city)
    ring1 = await offers(order_id)
    async with unit_of_work() as s:  # store 1 sold its last boxes over the counter meanwhile
        from sqlalchemy import text

        await s.execute(text("UPDATE stock_levels SET on_hand = 0 WHERE store_id = :s"), {"s": city.stores[1]})
    with pytest.raises(ClaimWithoutStock, match="does not have every item"):
        async with unit_of_work() as s:
            await claim_offer(s, ring1[1].id, actor="user:2")
    assert [o.status for o in await offers(order_id)] == ["open"] * 3
    assert (await dispatch_row(order_id)).status == "offering"
    async with unit_of_work() as s:
        await claim_offer(s, ring1[2].id, actor="user:3")
    assert await scalar("SELECT fulfil_store_id FROM orders WHERE id = :o", o=order_id) == city.stores[2]


async def test_customer_cancel_while_dispatching_withdraws_every_offer(clean: None, published: list) -> None:
    from orders.cancel_order import customer_cancel

    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city)
    async with unit_of_work() as s:
        done = await customer_cancel(s, order_id, city.customer_id, "不需要了")
    assert done.outcome == "cancelled"
    assert {o.status for o in await offers(order_id)} == {"withdrawn"}
    d = await dispatch_row(order_id)
    assert d.status == "cancelled" and d.closed_at is not None
    assert await level(city.origin, city.sku_id) == (20, 0)
    clock.advance(600)
    await run_due_jobs()  # the ring timer and SLA checks find nothing to do
    assert (await dispatch_row(order_id)).status == "cancelled"
    assert "risk" not in await kinds(order_id)
