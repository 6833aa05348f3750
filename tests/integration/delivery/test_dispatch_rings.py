"""Rings, widening and fallback on the virtual clock: silence, declines, HQ, cancel with refund, the risk monitor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import clock, events
from core.db import unit_of_work
from core.jobs import run_due_jobs
from delivery.claim_offer import claim_offer
from delivery.decline_offer import decline_offer
from delivery.events import DispatchAtRisk, DispatchFailed
from tests.integration.delivery.city import (
    build_city,
    dispatch_row,
    kinds,
    offers,
    order_status,
    paid_urgent_order,
    rows,
    scalar,
)
from tests.integration.orders.factories import level


@pytest.fixture
def published():  # type: ignore[no-untyped-def]
    seen: list[events.Event] = []

    async def spy(session, event) -> None:  # type: ignore[no-untyped-def]
        seen.append(event)

    watched = (events.DispatchAccepted, events.OrderCancelled, DispatchFailed, DispatchAtRisk)
    for k in watched:
        events.subscribe(k, spy)
    yield seen
    for k in watched:
        events._handlers[k].remove(spy)


async def test_silent_ring_1_brings_ring_2_at_the_deadline(clean: None) -> None:
    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city)
    clock.advance(179)
    await run_due_jobs()
    assert [o.status for o in await offers(order_id)] == ["open"] * 3  # not yet
    clock.advance(1)
    await run_due_jobs()
    after = await offers(order_id)
    assert [(o.ring, o.status) for o in after[:3]] == [(1, "expired")] * 3
    assert [o.store_id for o in after[3:]] == city.stores[3:7]  # ring 2: the next (up to 5) within 6 km
    assert {(o.ring, o.status) for o in after[3:]} == {(2, "open")}
    assert (await dispatch_row(order_id)).ring == 2
    assert "ring_widened" in await kinds(order_id)


async def test_a_ring_that_declines_brings_the_next_ring_at_once(clean: None) -> None:
    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city)
    ring1 = await offers(order_id)
    for o in ring1:
        async with unit_of_work() as s:
            step = (await decline_offer(s, o.id, "缺货 out of stock", actor=f"user:{o.store_id}")).next_step
    assert step == "offered"
    after = await offers(order_id)
    assert [o.status for o in after[:3]] == ["declined"] * 3 and len(after) == 7
    d_id = (await dispatch_row(order_id)).id
    timer = await scalar("SELECT status FROM jobs WHERE dedupe_key = :k", k=f"delivery.ring:{d_id}:1")
    assert timer == "cancelled"
    reasons = await rows("SELECT decline_reason FROM dispatch_offers WHERE status = 'declined'")
    assert {r[0] for r in reasons} == {"缺货 out of stock"}


async def test_nobody_can_make_it_cancel_refund_coupon_and_customer_told(clean: None, published: list) -> None:
    clock.freeze()
    city = await build_city(distances=(300, 600, 900, 1200))
    order_id = await paid_urgent_order(city)
    paid_fen = await scalar("SELECT paid_fen FROM orders WHERE id = :o", o=order_id)
    for _ in range(2):  # ring 1, then ring 2 (the last store), both silent
        clock.advance(180)
        await run_due_jobs()
    d = await dispatch_row(order_id)
    assert d.status == "failed" and d.fallback == "cancelled"
    assert await order_status(order_id) == "cancelled"
    assert {o.status for o in await offers(order_id)} == {"expired"}
    assert await level(city.origin, city.sku_id) == (20, 0)  # the held unit went back
    cancelled = [e for e in published if isinstance(e, events.OrderCancelled)]
    assert len(cancelled) == 1 and cancelled[0].refund_due_fen == paid_fen > 0  # payments refunds it in full
    failed = [e for e in published if isinstance(e, DispatchFailed)]
    assert len(failed) == 1 and failed[0].customer_id == city.customer_id  # engage tells the customer
    story = await kinds(order_id)
    assert "failed" in story and ("apology_coupon" in story or "apology_coupon_owed" in story)
    assert not [e for e in published if isinstance(e, events.DispatchAccepted)]


async def test_hq_takes_over_when_no_partner_answers(clean: None, published: list) -> None:
    clock.freeze()
    city = await build_city(distances=(300, 600, 900), hq_at=2500)
    order_id = await paid_urgent_order(city)
    clock.advance(180)
    await run_due_jobs()
    d = await dispatch_row(order_id)
    assert d.status == "accepted" and d.fallback == "hq" and d.accepted_store_id == city.hq
    assert await order_status(order_id) == "accepted"
    assert await scalar("SELECT fulfil_store_id FROM orders WHERE id = :o", o=order_id) == city.hq
    assert await level(city.hq, city.sku_id) == (50, 1)
    accepted = [e for e in published if isinstance(e, events.DispatchAccepted)]
    assert [(e.order_id, e.store_id) for e in accepted] == [(order_id, city.hq)]
    assert (await kinds(order_id))[-3:] == ["candidates", "fallback_hq", "offer_claimed"]


async def test_too_little_time_left_goes_straight_to_fallback(clean: None, published: list) -> None:
    clock.freeze()
    city = await build_city(hq_at=20_000)
    order_id = await paid_urgent_order(city, start=False)
    clock.advance(timedelta(minutes=52))  # the worker was down: 8 minutes left
    await run_due_jobs()
    assert (await dispatch_row(order_id)).status == "failed"
    assert await offers(order_id) == []
    decision = (await rows("SELECT data FROM dispatch_events WHERE order_id = :o AND kind = 'candidates'", o=order_id))[
        0
    ][0]
    assert set(decision["excluded"].values()) == {"too far to keep the promise"}
    reason = (await rows("SELECT reason FROM dispatch_events WHERE order_id = :o AND kind = 'failed'", o=order_id))[0][
        0
    ]
    assert "HQ store is 20.0 km away" in reason


async def test_full_stores_are_skipped_and_cannot_claim(clean: None) -> None:
    clock.freeze()
    city = await build_city(capacity=1)
    first = await paid_urgent_order(city)
    async with unit_of_work() as s:
        await claim_offer(s, (await offers(first))[0].id, actor="user:1")
    second = await paid_urgent_order(city)
    offered = [o.store_id for o in await offers(second)]
    assert city.stores[0] not in offered and offered == city.stores[1:4]
    decision = (await rows("SELECT data FROM dispatch_events WHERE order_id = :o AND kind = 'candidates'", o=second))[
        0
    ][0]
    assert decision["excluded"][str(city.stores[0])] == "at urgent capacity (1/1)"


async def test_risk_monitor_escalates_an_order_not_out_by_30_minutes(clean: None, published: list) -> None:
    clock.freeze()
    city = await build_city(hq_at=1000)
    order_id = await paid_urgent_order(city)
    clock.advance(60)
    async with unit_of_work() as s:
        await claim_offer(s, (await offers(order_id))[0].id, actor="user:1")
    clock.advance(timedelta(minutes=30))
    await run_due_jobs()
    risks = [e for e in published if isinstance(e, DispatchAtRisk)]
    assert [(e.check, e.minutes_since_paid) for e in risks] == [("out", 31)]  # the claim came in time
    assert (await dispatch_row(order_id)).risk_level == 1
    [risk] = await rows("SELECT reason, data FROM dispatch_events WHERE order_id = :o AND kind = 'risk'", o=order_id)
    assert risk.data["check"] == "out" and risk.data["status"] == "accepted"


async def test_when_every_near_store_is_full_dispatch_waits_and_offers_once_one_frees_up(clean: None) -> None:
    from delivery.advance_stage import move_stage
    from delivery.deliver_order import deliver_with_code
    from tests.integration.delivery.city import handoff_code

    clock.freeze()
    city = await build_city(distances=(300, 700), capacity=1)
    first, second = await paid_urgent_order(city), await paid_urgent_order(city)
    for order_id, store in ((first, city.stores[0]), (second, city.stores[1])):
        offer = next(o for o in await offers(order_id) if o.store_id == store)
        async with unit_of_work() as s:
            await claim_offer(s, offer.id, actor="user:1")
    third = await paid_urgent_order(city)
    assert await offers(third) == []
    d = await dispatch_row(third)
    assert d.status == "offering" and d.ring == 0
    [waiting] = await rows("SELECT data FROM dispatch_events WHERE order_id = :o AND kind = 'waiting'", o=third)
    assert {b["store_id"] for b in waiting.data["blocked"]} == set(city.stores)

    async with unit_of_work() as s:  # store 0 hands over its order: it has room again
        await move_stage(s, first, "preparing", actor="user:1")
        await move_stage(s, first, "out_for_delivery", actor="user:1")
        assert (await deliver_with_code(s, first, await handoff_code(first), actor="user:1")).delivered
    clock.advance(60)
    await run_due_jobs()
    assert [(o.store_id, o.ring, o.status) for o in await offers(third)] == [(city.stores[0], 1, "open")]
