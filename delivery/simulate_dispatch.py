"""The dispatch simulation: the real dispatch code (jobs, candidates, offers, claims, rings, fallback, stages,
handoff) on a virtual clock, against a generated city whose stores answer after random delays, decline with
probability P, never answer with probability Q, prepare in 5–10 min and ride at 15 km/h on roads 1.3× the
straight line. Orders arrive as a Poisson stream over the window and are placed and paid through orders."""

from __future__ import annotations

import heapq
import itertools
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import text

from core import clock, events
from core.db import unit_of_work
from core.errors import DomainError
from core.jobs import run_due_jobs
from delivery.advance_stage import move_stage
from delivery.claim_offer import claim_offer
from delivery.decline_offer import decline_offer
from delivery.deliver_order import deliver_with_code
from delivery.order_facts import order_facts
from delivery.sim_world import SimParams, World, build_world, point
from orders.checkout import AddressIn, CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.place_order import place_order
from shop.stores.geo import haversine_m
from shop.stores.nearest import nearest_stores

log = structlog.get_logger(__name__)

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
OWN_HANDLERS = ("core", "shop", "orders", "delivery")  # no WeChat in the simulation: payments/engage stay out


_POLL = text(
    """
    SELECT (SELECT min(run_at) FROM jobs WHERE status = 'pending') AS next_job,
           (SELECT count(*) FROM dispatches WHERE status IN ('pending', 'offering', 'accepted')) AS active,
           ARRAY(SELECT id FROM dispatch_offers WHERE id > :last AND status = 'open' AND ring > 0 ORDER BY id) AS offers
    """
)


@dataclass
class Tally:
    refused: int = 0
    refunds: int = 0
    claims_won: Counter[int] = field(default_factory=Counter)
    claim_refusals: Counter[str] = field(default_factory=Counter)
    assigned: list[tuple[int, int]] = field(default_factory=list)


class Simulation:
    def __init__(self, p: SimParams) -> None:
        self.p = p
        self.rng = random.Random(p.seed)
        self.heap: list[tuple[datetime, int, str, tuple[Any, ...]]] = []
        self.seq = itertools.count()
        self.tally = Tally()
        self.last_offer_id = 0
        self.customer_at: dict[int, tuple[float, float]] = {}
        self.store_at: dict[int, tuple[float, float]] = {}
        self.world: World | None = None

    def at(self, when: datetime, kind: str, *args: Any) -> None:
        heapq.heappush(self.heap, (when, next(self.seq), kind, args))

    def minutes(self, lo_hi: tuple[float, float]) -> timedelta:
        return timedelta(minutes=self.rng.uniform(*lo_hi))

    # --- event spies (in-process: the simulation sees what the real code publishes) ------------------

    async def _on_accepted(self, session: Any, e: events.DispatchAccepted) -> None:
        self.tally.assigned.append((e.order_id, e.store_id))

    async def _on_cancelled(self, session: Any, e: events.OrderCancelled) -> None:
        if e.refund_due_fen > 0:
            self.tally.refunds += 1

    def install_spies(self) -> None:
        for handlers in events._handlers.values():
            handlers[:] = [h for h in handlers if h.__module__.split(".")[0] in OWN_HANDLERS]
        events.subscribe(events.DispatchAccepted, self._on_accepted)
        events.subscribe(events.OrderCancelled, self._on_cancelled)

    # --- the model -------------------------------------------------------------------------------------

    async def arrive(self, n: int) -> None:
        assert self.world is not None
        lat, lng = point(self.rng, self.p.city_km)
        async with unit_of_work() as s:
            nearest = await nearest_stores(s, lat, lng, limit=1, open_now=True, partner_only=True)
        if not nearest:
            self.tally.refused += 1
            return
        req = CheckoutRequest(
            store_id=nearest[0].store_id,
            kind="urgent",
            lines=[LineIn(self.world.sku_id, 1)],
            address=AddressIn("模拟顾客", "13800000000", f"模拟地址 {n}", lat, lng),
        )
        try:
            async with unit_of_work() as s:
                placed = await place_order(s, self.world.customer_id, req, f"sim-order-{n:08d}")
            async with unit_of_work() as s:
                await mark_paid(s, placed.order_id, f"sim-pay-{n}", clock.now())
        except DomainError as exc:  # e.g. no store can deliver there within the hour: the checkout says so
            self.tally.refused += 1
            log.debug("sim_refused", n=n, error=exc.detail)
            return
        self.customer_at[placed.order_id] = (lat, lng)

    def answer_offers(self, offer_ids: list[int]) -> None:
        """Stores learn of new offers: each answers after a delay, declines with P, or stays silent with Q."""
        for offer_id in offer_ids:
            self.last_offer_id = max(self.last_offer_id, offer_id)
            u = self.rng.random()
            delay = self.minutes(self.p.answer_min)
            if u < self.p.silent:
                continue
            self.at(clock.now() + delay, "decline" if u < self.p.silent + self.p.decline else "claim", offer_id)

    async def claim(self, offer_id: int) -> None:
        try:
            async with unit_of_work() as s:
                done = await claim_offer(s, offer_id, actor="sim:store")
            self.tally.claims_won[done.order_id] += 1
        except DomainError as exc:
            self.tally.claim_refusals[type(exc).__name__] += 1

    async def decline(self, offer_id: int) -> None:
        try:
            async with unit_of_work() as s:
                await decline_offer(s, offer_id, "模拟: 人手不足", actor="sim:store")
        except DomainError as exc:
            self.tally.claim_refusals["decline:" + type(exc).__name__] += 1

    async def assigned(self) -> None:
        """A store (or HQ) has the order: it prepares, rides, hands over with the customer's code."""
        while self.tally.assigned:
            order_id, store_id = self.tally.assigned.pop(0)
            now = clock.now()
            await self.stage(order_id, "preparing")
            ready = now + self.minutes(self.p.prep_min)
            self.at(ready, "out", order_id, store_id)

    async def stage(self, order_id: int, stage: str) -> None:
        try:
            async with unit_of_work() as s:
                await move_stage(s, order_id, stage, actor="sim:staff")
        except DomainError as exc:
            log.warning("sim_stage_refused", order_id=order_id, stage=stage, error=exc.detail)

    async def out(self, order_id: int, store_id: int) -> None:
        await self.stage(order_id, "out_for_delivery")
        slat, slng = await self.store_location(store_id)
        clat, clng = self.customer_at[order_id]
        km = haversine_m(slat, slng, clat, clng) / 1000 * self.p.road_factor
        ride = timedelta(minutes=km / self.p.speed_kmh * 60 + self.p.handoff_min)
        self.at(clock.now() + ride, "deliver", order_id)

    async def deliver(self, order_id: int) -> None:
        async with unit_of_work() as s:
            code = (await order_facts(s, order_id)).handoff_code
            result = await deliver_with_code(s, order_id, code, actor="sim:courier")
        if not result.delivered:
            log.warning("sim_handoff_refused", order_id=order_id)

    async def store_location(self, store_id: int) -> tuple[float, float]:
        if store_id not in self.store_at:
            async with unit_of_work() as s:
                row = (await s.execute(text("SELECT lat, lng FROM stores WHERE id = :id"), {"id": store_id})).one()
            self.store_at[store_id] = (row.lat, row.lng)
        return self.store_at[store_id]

    # --- the virtual clock --------------------------------------------------------------------------------

    async def poll(self) -> tuple[datetime | None, int, list[int]]:
        """When the next timer is due, how many dispatches are under way, which offers are new (one round trip)."""
        async with unit_of_work() as s:
            row = (await s.execute(_POLL, {"last": self.last_offer_id})).one()
        return row.next_job, int(row.active), list(row.offers)

    async def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        clock.freeze(START)
        self.world = await build_world(self.p, self.rng)
        arrivals = sorted(self.rng.uniform(0, self.p.window_min) for _ in range(self.p.orders))
        for n, minute in enumerate(arrivals, start=1):
            self.at(START + timedelta(minutes=minute), "arrive", n)
        limit = START + timedelta(minutes=self.p.window_min + 240)
        handlers: dict[str, Callable[..., Awaitable[None]]] = {
            "arrive": self.arrive,
            "claim": self.claim,
            "decline": self.decline,
            "out": self.out,
            "deliver": self.deliver,
        }
        while True:
            job_at, active, new_offers = await self.poll()
            self.answer_offers(new_offers)
            sim_at = self.heap[0][0] if self.heap else None
            if sim_at is None and active == 0:
                break
            when = min(t for t in (job_at, sim_at) if t is not None)
            if when > limit:
                break
            clock.freeze(max(when, clock.now()))
            if job_at is not None and job_at <= clock.now():
                await run_due_jobs(limit=500)
            while self.heap and self.heap[0][0] <= clock.now():
                _, _, kind, args = heapq.heappop(self.heap)
                await handlers[kind](*args)
            await self.assigned()
        return await self.report(time.perf_counter() - started)

    async def report(self, wall_s: float) -> dict[str, Any]:
        async with unit_of_work() as s:
            minutes = [
                float(m)
                for (m,) in (
                    await s.execute(
                        text(
                            "SELECT extract(epoch FROM delivered_at - paid_at) / 60 FROM dispatches "
                            "WHERE status = 'delivered'"
                        )
                    )
                ).all()
            ]
            stats = (
                await s.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE fallback IS NOT NULL) AS fallbacks, "
                        "count(*) FILTER (WHERE fallback = 'hq') AS hq, "
                        "count(*) FILTER (WHERE status = 'failed') AS failed, "
                        "count(*) FILTER (WHERE status NOT IN ('delivered', 'failed', 'cancelled')) AS unfinished, "
                        "count(*) AS dispatched FROM dispatches"
                    )
                )
            ).one()
            double_db = int(
                await s.scalar(
                    text(
                        "SELECT count(*) FROM (SELECT order_id FROM dispatch_offers WHERE status = 'accepted' "
                        "GROUP BY order_id HAVING count(*) > 1) x"
                    )
                )
                or 0
            )
            offers = int(await s.scalar(text("SELECT count(*) FROM dispatch_offers WHERE ring > 0")) or 0)
            job_kinds = {
                f"{k}:{st}": int(n)
                for k, st, n in (
                    await s.execute(text("SELECT kind, status, count(*) FROM jobs GROUP BY kind, status"))
                ).all()
            }
            widened = int(await s.scalar(text("SELECT count(*) FROM dispatch_events WHERE kind = 'ring_widened'")) or 0)
        double = max(double_db, sum(1 for n in self.tally.claims_won.values() if n > 1))
        within = sum(1 for m in minutes if m <= 60)
        q = statistics.quantiles(minutes, n=20, method="inclusive") if len(minutes) >= 2 else minutes * 19
        p = self.p
        return {
            "orders": p.orders,
            "stores": p.stores,
            "delivered_within_60_pct": round(100 * within / p.orders, 2) if p.orders else 0.0,
            "p50_min": round(statistics.median(minutes), 1) if minutes else None,
            "p95_min": round(q[18], 1) if minutes else None,
            "fallbacks": int(stats.fallbacks),
            "refunded": self.tally.refunds,
            "double_assigned": double,
            # more than the contract asks
            "delivered": len(minutes),
            "late": len(minutes) - within,
            "hq_fallbacks": int(stats.hq),
            "cancelled_no_store": int(stats.failed),
            "refused_at_checkout": self.tally.refused,
            "unfinished": int(stats.unfinished),
            "offers": offers,
            "rings_widened": widened,
            "claims_refused": dict(self.tally.claim_refusals),
            "jobs": job_kinds,
            "strategy": p.strategy,
            "capacity": p.capacity,
            "window_min": p.window_min,
            "city_km": p.city_km,
            "decline": p.decline,
            "silent": p.silent,
            "seed": p.seed,
            "wall_s": round(wall_s, 1),
        }


def params_dict(p: SimParams) -> dict[str, Any]:
    return {k: v for k, v in asdict(p).items() if not isinstance(v, tuple)}


__all__ = ["SimParams", "Simulation", "params_dict"]
