"""Concurrent customers and a staff bot over real HTTP, retrying the way a phone and a console do (the same
Idempotency-Key, a fresh request after a dropped connection), so that faults show up in the database and not
as a crashed test; and the invariants the database must satisfy afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.reliability.cluster import BASE_LAT, BASE_LNG, Cluster, World

RETRYABLE = {502, 503, 504}


class GaveUp(AssertionError):
    pass


@dataclass
class Wave:
    """One round of customers: each places an urgent order; most pay, some abandon (their deadline cancels)."""

    cluster: Cluster
    world: World
    tag: str
    customers: int = 50
    abandon_every: int = 10  # customer i abandons when i % abandon_every == abandon_every - 1
    slow_every: int = 5  # the staff let ring 1 of these orders expire (i % slow_every == 1)
    orders: dict[int, str] = field(default_factory=dict)  # customer index -> order public id
    trade_nos: dict[int, str] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)  # every HTTP answer seen
    unexpected: list[str] = field(default_factory=list)  # 5xx other than "unavailable", bodies cut short
    transport_errors: int = 0
    slow_orders: set[str] = field(default_factory=set)
    claims: Counter[str] = field(default_factory=Counter)

    def abandons(self, i: int) -> bool:
        return i % self.abandon_every == self.abandon_every - 1

    def paying(self) -> list[int]:
        return [i for i in range(self.customers) if not self.abandons(i)]

    # --- HTTP with retries -----------------------------------------------------------------------------

    def _base(self, i: int, attempt: int) -> str:
        """A load balancer: spread over the web processes, the next one after a failure."""
        urls = [self.cluster.web(n).url for n in range(self.cluster.webs)]
        return str(urls[(i + attempt) % len(urls)])

    async def call(
        self, client: httpx.AsyncClient, i: int, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kw: Any
    ) -> httpx.Response:
        deadline = time.monotonic() + 60
        attempt = 0
        last = ""
        while True:
            try:
                r = await client.request(method, self._base(i, attempt) + path, **kw)
                self.statuses[r.status_code] += 1
                last = f"{r.status_code} {r.text[:300]}"
                if r.status_code in ok:
                    return r
                if r.status_code >= 500 and r.status_code not in RETRYABLE:
                    self.unexpected.append(f"{method} {path} -> {r.status_code}: {r.text[:300]}")
                elif r.status_code < 500:
                    return r  # the caller decides (a 4xx is an answer)
            except httpx.TransportError as exc:
                self.transport_errors += 1
                last = repr(exc)
            attempt += 1
            if time.monotonic() > deadline:
                raise GaveUp(f"{method} {path} kept failing for 60 s; last: {last}")
            await asyncio.sleep(min(0.2 * attempt, 1.0))

    # --- the customer ------------------------------------------------------------------------------------

    async def customer(self, client: httpx.AsyncClient, i: int) -> None:
        me = self.cluster.customer_headers(self.world.customers[i])
        body = {
            "store_id": self.world.origin,
            "kind": "urgent",
            "lines": [{"sku_id": self.world.sku, "qty": 1}],
            "address": {
                "contact_name": "顾客",
                "phone": "13800000000",
                "address": f"人民大道 {i} 号",
                "lat": BASE_LAT,
                "lng": BASE_LNG,
            },
        }
        key = f"{self.tag}-order-{i:04d}"
        r = await self.call(client, i, "POST", "/api/orders/", json=body, headers={**me, "Idempotency-Key": key})
        assert r.status_code == 201, r.text
        public_id = r.json()["id"]
        self.orders[i] = public_id
        if i % self.slow_every == 1:
            self.slow_orders.add(public_id)
        r = await self.call(
            client, i, "POST", "/api/payments", json={"order_id": public_id, "channel": "JSAPI"}, headers=me
        )
        assert r.status_code == 200, r.text
        started = r.json()
        self.trade_nos[i] = started["out_trade_no"]
        if self.abandons(i):
            return  # never pays: the payment deadline decides
        await self.pay(client, i, started)

    async def pay(self, client: httpx.AsyncClient, i: int, started: dict[str, Any]) -> None:
        """The customer's WeChat pays once; after a dropped connection it looks whether it went through."""
        trade_no = started["out_trade_no"]
        for attempt in range(200):
            if attempt:
                r = await client.get(f"{self.cluster.sandbox_url}/api/pay/orders/{trade_no}")
                if r.status_code == 200 and r.json().get("trade_state") == "SUCCESS":
                    return
                await asyncio.sleep(0.3)
            try:
                r = await client.post(f"{self.cluster.sandbox_url}/api/pay/jsapi", json=started["jsapi_params"])
            except httpx.TransportError:
                self.transport_errors += 1
                continue
            self.statuses[r.status_code] += 1
            if r.status_code == 200:
                return
            if r.status_code >= 500 and r.status_code not in RETRYABLE:
                self.unexpected.append(f"pay -> {r.status_code}: {r.text[:300]}")
        raise GaveUp(f"customer {i} could not pay")

    async def run_customers(self) -> None:
        limits = httpx.Limits(max_connections=self.customers * 2)
        async with httpx.AsyncClient(timeout=20, limits=limits) as client:
            await asyncio.gather(*(self.customer(client, i) for i in range(self.customers)))

    # --- the staff ----------------------------------------------------------------------------------------

    async def staff_bot(self, stop: asyncio.Event, web: int = 0) -> None:
        """Claims one open offer per order (not ring 1 of the slow orders); several bots may race for an order."""
        headers = self.cluster.staff_headers(self.world.staff_user)

        async def claim(client: httpx.AsyncClient, offer: dict[str, Any]) -> None:
            c = await client.post(self._base(web, 0) + f"/api/staff/offers/{offer['offer_id']}/claim", headers=headers)
            self.statuses[c.status_code] += 1
            if c.status_code == 200:
                self.claims[offer["order_id"]] += 1
            elif c.status_code >= 500 and c.status_code not in RETRYABLE:
                self.unexpected.append(f"claim -> {c.status_code}: {c.text[:300]}")

        async with httpx.AsyncClient(timeout=10) as client:
            while not stop.is_set():
                try:
                    r = await client.get(self._base(web, 0) + "/api/staff/offers?limit=200", headers=headers)
                    chosen: dict[str, dict[str, Any]] = {}
                    for offer in r.json() if r.status_code == 200 else []:
                        if offer["order_id"] in self.slow_orders and offer["ring"] == 1:
                            continue
                        chosen.setdefault(offer["order_id"], offer)
                    await asyncio.gather(*(claim(client, o) for o in chosen.values()))
                except (httpx.TransportError, ValueError):
                    pass
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.3)

    # --- waiting for the outcome ---------------------------------------------------------------------------

    async def fire_deadlines(self) -> None:
        """The abandoned orders' payment deadlines are minutes away: bring those durable timers forward."""
        ids = [self.orders[i] for i in range(self.customers) if self.abandons(i) and i in self.orders]
        await retry_db(
            self.cluster,
            "UPDATE jobs SET run_at = now() WHERE kind = 'orders.payment_deadline' AND status = 'pending' "
            "AND (payload->>'order_id')::bigint IN (SELECT id FROM orders WHERE public_id = ANY($1::text[]))",
            ids,
        )

    async def settled(self) -> tuple[int, int, int]:
        """(paid urgent orders claimed by a store, abandoned orders cancelled, orders of this wave)."""
        paid = [self.orders[i] for i in self.paying() if i in self.orders]
        gone = [self.orders[i] for i in range(self.customers) if self.abandons(i) and i in self.orders]
        rows = await retry_db(
            self.cluster,
            "SELECT (SELECT count(*) FROM orders WHERE public_id = ANY($1::text[]) AND status = 'accepted'),"
            "       (SELECT count(*) FROM orders WHERE public_id = ANY($2::text[]) AND status = 'cancelled'),"
            "       (SELECT count(*) FROM orders WHERE public_id = ANY($3::text[]))",
            paid,
            gone,
            paid + gone,
        )
        return int(rows[0][0]), int(rows[0][1]), int(rows[0][2])

    async def wait_settled(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        want = (len(self.paying()), self.customers - len(self.paying()), self.customers)
        got = (0, 0, 0)
        while time.monotonic() < deadline:
            got = await self.settled()
            if got == want:
                return
            await asyncio.sleep(0.3)
        raise AssertionError(f"(claimed, cancelled, orders) = {got}, expected {want}")


async def retry_db(cluster: Cluster, query: str, *args: Any, timeout: float = 60) -> list[asyncpg.Record]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await cluster.sql(query, *args)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def health_while(cluster: Cluster, web: int, stop: asyncio.Event, seen: list[tuple[int, dict[str, Any]]]) -> None:
    """What /health said while the fault lasted (status code, body)."""
    async with httpx.AsyncClient(timeout=15) as client:
        while not stop.is_set():
            try:
                r = await client.get(str(cluster.web(web).url) + "/health")
                seen.append((r.status_code, r.json()))
            except (httpx.HTTPError, ValueError):
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)


# --- invariants over the whole database ------------------------------------------------------------------------


async def invariants(cluster: Cluster) -> dict[str, Any]:
    """Counts that must all be zero (and the ledger report); asserted by every test of both suites."""
    q = {
        # Paid exactly once: one credited intent per order, one paid event per intent, one notify credit.
        "orders_credited_twice": "SELECT count(*) FROM (SELECT payable_id FROM payment_intents "
        "WHERE credit_outcome = 'credited' GROUP BY payable_kind, payable_id HAVING count(*) > 1) d",
        "intents_paid_twice": "SELECT count(*) FROM (SELECT intent_id FROM payment_events WHERE to_status = 'paid' "
        "GROUP BY intent_id HAVING count(*) > 1) d",
        "transaction_ids_reused": "SELECT count(*) FROM (SELECT transaction_id FROM payment_intents "
        "WHERE transaction_id IS NOT NULL GROUP BY transaction_id HAVING count(*) > 1) d",
        "payment_postings_twice": "SELECT count(*) FROM (SELECT ref FROM ledger_transactions "
        "GROUP BY ref HAVING count(*) > 1) d",
        "paid_fen_mismatch": "SELECT count(*) FROM orders WHERE paid_at IS NOT NULL AND paid_fen <> cash_due_fen",
        # Timers: each status reached at most once per order (a cancel, a payment, a claim).
        "status_reached_twice": "SELECT count(*) FROM (SELECT order_id, to_status FROM order_events "
        "WHERE kind = 'status' GROUP BY order_id, to_status HAVING count(*) > 1) d",
        "cancelled_but_paid_unrefunded": "SELECT count(*) FROM orders WHERE status = 'cancelled' AND paid_fen > 0 "
        "AND refunded_fen < paid_fen AND NOT EXISTS (SELECT 1 FROM payment_refunds r "
        "WHERE r.payable_kind = 'order' AND r.payable_id = orders.id)",
        "offers_expired_twice": "SELECT count(*) FROM (SELECT offer_id FROM dispatch_events "
        "WHERE kind = 'offer_expired' GROUP BY offer_id HAVING count(*) > 1) d",
        "expired_offers_without_event": "SELECT count(*) FROM dispatch_offers o WHERE o.status = 'expired' "
        "AND NOT EXISTS (SELECT 1 FROM dispatch_events e WHERE e.offer_id = o.id AND e.kind = 'offer_expired')",
        "rings_opened_twice": "SELECT count(*) FROM (SELECT dispatch_id, ring, store_id FROM dispatch_events "
        "WHERE kind = 'offer_sent' GROUP BY dispatch_id, ring, store_id HAVING count(*) > 1) d",
        "jobs_dead": "SELECT count(*) FROM jobs WHERE status = 'dead'",
        # No order lost or double-assigned.
        "orders_assigned_twice": "SELECT count(*) FROM (SELECT order_id FROM dispatch_offers "
        "WHERE status = 'accepted' GROUP BY order_id HAVING count(*) > 1) d",
        "accepted_store_mismatch": "SELECT count(*) FROM dispatches d JOIN orders o ON o.id = d.order_id "
        "WHERE d.status = 'accepted' AND o.fulfil_store_id IS DISTINCT FROM d.accepted_store_id",
        "paid_urgent_without_dispatch": "SELECT count(*) FROM orders o WHERE o.kind = 'urgent' "
        "AND o.paid_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dispatches d WHERE d.order_id = o.id)",
        # Stock: the movement log adds up to every level; nothing reserved for a cancelled order.
        "stock_levels_off_log": "SELECT count(*) FROM stock_levels l WHERE (l.on_hand, l.reserved) <> "
        "(SELECT coalesce(sum(on_hand_delta), 0), coalesce(sum(reserved_delta), 0) FROM stock_movements m "
        "WHERE m.store_id = l.store_id AND m.sku_id = l.sku_id)",
        "reserved_for_cancelled": "SELECT count(*) FROM stock_reservations r JOIN orders o "
        "ON r.ref = 'order:' || o.id WHERE o.status = 'cancelled' AND r.status = 'held'",
    }
    out: dict[str, Any] = {}
    for name, sql in q.items():
        out[name] = int((await retry_db(cluster, sql))[0][0])
    # Paid at WeChat (the sandbox's own database) = paid here, and the other way round.
    wechat = {
        r[0]
        for r in await cluster.sql(
            "SELECT out_trade_no FROM sandbox.pay_orders WHERE trade_state = 'SUCCESS'", wechat=True
        )
    }
    here = {r[0] for r in await retry_db(cluster, "SELECT out_trade_no FROM payment_intents WHERE status = 'paid'")}
    out["paid_at_wechat_not_here"] = len(wechat - here)
    out["paid_here_not_at_wechat"] = len(here - wechat)
    return out
