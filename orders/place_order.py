"""place_order: the hot path — an order from a checkout, its stock held, its payment deadline scheduled.

Round trips of ours: one read (orders.checkout: store, hours, prices, stock, address, cart, the key's
order, the member terms) and one insert of the order with its lines, first event and payment-deadline
timer (CTE, arrays unnested; the timer through core.jobs.schedule_per_row), both on the driver
(core.driver_sql); then the stock seam's two. The order row goes in first: its unique (customer,
Idempotency-Key) makes a concurrent duplicate wait for the first and then find it, before that
duplicate reserves anything. Any refusal after that (out of stock, coupon)
rolls the whole transaction back, so nothing stays reserved or locked.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs, metrics
from core.driver_sql import DriverStatement, fetchrow
from core.errors import InvalidInput
from core.events import OrderPlaced, publish
from core.ids import new_token
from orders.checkout import CheckoutRequest, Existing, read_context, request_hash, validate
from orders.errors import IdempotencyKeyReused
from orders.pricing_seams import hold_points, hold_stored_value, lock_coupon
from orders.quote import Quote, build_quote, check_orderable, check_stock_seen
from orders.status import stock_ref
from shop.services import reserve_stock

log = structlog.get_logger(__name__)

PAYMENT_DEADLINE_JOB = "orders.payment_deadline"
_KEY = re.compile(r"^[\x21-\x7e]{8,64}$")


def payment_deadline_key(order_id: int) -> str:
    return f"{PAYMENT_DEADLINE_JOB}:{order_id}"


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order_id: int
    public_id: str
    number: str
    status: str
    kind: str
    store_id: int
    total_fen: int
    cash_due_fen: int
    promise_at: datetime
    payment_deadline_at: datetime
    created: bool  # False: the Idempotency-Key was seen before and this is that order
    quote: Quote | None = None


_DEADLINE_TIMER = jobs.schedule_per_row(
    "o",
    payload_sql="jsonb_build_object('order_id', o.id)",
    dedupe_sql=f"'{PAYMENT_DEADLINE_JOB}:' || o.id",  # payment_deadline_key(o.id)
    run_at_sql=":deadline",
)
_INSERT = DriverStatement(
    """
    WITH o AS (
        INSERT INTO orders (
            public_id, number, customer_id, store_id, kind, status, idempotency_key, request_hash,
            items_fen, discount_fen, delivery_fee_fen, urgent_fee_fen, total_fen, stored_value_fen, cash_due_fen,
            paid_fen, refunded_fen, coupon_id, member_card_id, contact_name, contact_phone, address_text, lat, lng,
            distance_m, pickup_at, promise_at, payment_deadline_at, handoff_code, note, needs_review,
            prescription_url, review_status, placed_at, created_at, updated_at)
        VALUES (
            :public_id, :number_prefix || lpad(nextval('order_number_seq')::text, 7, '0'), :customer_id, :store_id,
            :kind, 'created', :key, :hash, :items_fen, :discount_fen, :delivery_fee_fen, :urgent_fee_fen, :total_fen,
            :stored_value_fen, :cash_due_fen, 0, 0, :coupon_id, :member_card_id, :contact_name, :contact_phone,
            :address_text, :lat, :lng, :distance_m, :pickup_at, :promise_at, :deadline, :handoff_code, :note,
            :needs_review, :prescription_url, 'none', :now, :now, :now)
        ON CONFLICT (customer_id, idempotency_key) DO NOTHING
        RETURNING id, number
    ), l AS (
        INSERT INTO order_lines (order_id, line_no, sku_id, product_id, title, spec, qty, unit_price_fen, line_fen,
                                 discount_fen, prescription_required, refunded_qty)
        SELECT o.id, x.line_no, x.sku_id, x.product_id, x.title, x.spec, x.qty, x.unit, x.unit * x.qty, x.discount,
               x.rx, 0
        FROM o, unnest(CAST(:line_nos AS int[]), CAST(:sku_ids AS bigint[]), CAST(:product_ids AS bigint[]),
                       CAST(:titles AS text[]), CAST(:specs AS text[]), CAST(:qtys AS int[]),
                       CAST(:units AS bigint[]), CAST(:discounts AS bigint[]), CAST(:rxs AS boolean[]))
             AS x(line_no, sku_id, product_id, title, spec, qty, unit, discount, rx)
    ), e AS (
        INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, at)
        SELECT o.id, 'status', NULL, 'created', :actor, 'placed', :now FROM o
    ), j AS ("""
    + _DEADLINE_TIMER
    + """)
    SELECT id, number FROM o
    """
)

_EXISTING = text(
    "SELECT id, request_hash, number FROM orders WHERE customer_id = :customer_id AND idempotency_key = :key"
)
_CLEAR_CART = text("DELETE FROM cart_lines WHERE customer_id = :customer_id AND store_id = :store_id")
_SUMMARY = text(
    "SELECT id, public_id, number, status, kind, store_id, total_fen, cash_due_fen, promise_at, payment_deadline_at "
    "FROM orders WHERE id = :id"
)


def check_idempotency_key(key: str | None) -> str:
    if key is None or not _KEY.match(key):
        raise InvalidInput(
            "the Idempotency-Key header is required: 8–64 visible ASCII characters, new for each order "
            "(send the same key again to retry the same order safely)"
        )
    return key


async def _replay(session: AsyncSession, existing: Existing, req: CheckoutRequest, key: str) -> PlacedOrder:
    if existing.request_hash != request_hash(req):
        raise IdempotencyKeyReused(key, existing.number)
    r = (await session.execute(_SUMMARY, {"id": existing.order_id})).one()
    log.info("order_replayed", order_id=existing.order_id, number=existing.number)
    return PlacedOrder(
        r.id,
        r.public_id,
        r.number,
        r.status,
        r.kind,
        r.store_id,
        r.total_fen,
        r.cash_due_fen,
        r.promise_at,
        r.payment_deadline_at,
        created=False,
    )


async def place_order(
    session: AsyncSession, customer_id: int, req: CheckoutRequest, idempotency_key: str, *, actor: str | None = None
) -> PlacedOrder:
    """Place the order, or return the one already placed with this key and the same request (409 if another)."""
    key = check_idempotency_key(idempotency_key)
    validate(req)
    ctx = await read_context(session, customer_id, req, key)
    if ctx.existing is not None:
        return await _replay(session, ctx.existing, req, key)
    q = await build_quote(session, customer_id, req, ctx)
    check_orderable(req, q)
    if ctx.key_free:
        # Sold out as far as the read shows, and no earlier request with this key is still running
        # (the read took the key's advisory lock): refuse before writing anything.
        check_stock_seen(q)

    now = clock.now()
    t = q.totals
    address = q.address
    public_id = new_token(12)
    handoff_code = f"{secrets.randbelow(10_000):04d}"  # 4 digits, read out at the door
    deadline = now + timedelta(minutes=q.payment_deadline_min)
    row = await fetchrow(
        session,
        _INSERT,
        {
            "public_id": public_id,
            "number_prefix": clock.now_shanghai().strftime("%y%m%d"),
            "customer_id": customer_id,
            "store_id": q.store_id,
            "kind": q.kind,
            "key": key,
            "hash": request_hash(req),
            "items_fen": t.items_fen,
            "discount_fen": t.discount_fen,
            "delivery_fee_fen": t.delivery_fee_fen,
            "urgent_fee_fen": t.urgent_fee_fen,
            "total_fen": t.total_fen,
            "stored_value_fen": t.stored_value_fen,
            "cash_due_fen": t.cash_due_fen,
            "coupon_id": q.discounts.coupon_id,
            "member_card_id": q.discounts.member_card_id if t.stored_value_fen else None,
            "contact_name": address.contact_name if address else "",
            "contact_phone": address.phone if address else "",
            "address_text": address.text if address else "",
            "lat": address.lat if address else None,
            "lng": address.lng if address else None,
            "distance_m": q.distance_m,
            "pickup_at": q.pickup_at,
            "promise_at": q.promise.promise_at,
            "deadline": deadline,
            "handoff_code": handoff_code,
            "note": req.note.strip(),
            "needs_review": q.needs_prescription,
            "prescription_url": req.prescription_url if q.needs_prescription else None,
            "now": now,
            "actor": actor or f"customer:{customer_id}",
            "line_nos": list(range(1, len(q.lines) + 1)),
            "sku_ids": [x.sku_id for x in q.lines],
            "product_ids": [x.product_id for x in q.lines],
            "titles": [x.title for x in q.lines],
            "specs": [x.spec for x in q.lines],
            "qtys": [x.qty for x in q.lines],
            "units": [x.unit_price_fen for x in q.lines],
            "discounts": [x.discount_fen for x in q.lines],
            "rxs": [x.prescription_required for x in q.lines],
            **jobs.job_params(PAYMENT_DEADLINE_JOB),
        },
    )
    if row is None:  # the same key committed meanwhile (a concurrent retry): answer with that order
        found = (await session.execute(_EXISTING, {"customer_id": customer_id, "key": key})).one()
        return await _replay(session, Existing(*found), req, key)
    order_id, number = row
    if not ctx.key_free:
        # A retry that found its original still running: it waited for it at the insert above (and
        # would have answered with that order); the original failed, so this one is judged on its own.
        check_stock_seen(q)
    ref = stock_ref(order_id)
    await reserve_stock(session, q.store_id, [(x.sku_id, x.qty) for x in q.lines], ref)
    if q.discounts.coupon_id is not None:
        await lock_coupon(session, q.discounts.coupon_id, order_id)
    if t.stored_value_fen:
        await hold_stored_value(session, q.discounts.member_card_id, t.stored_value_fen, ref)
    if q.points.points:
        await hold_points(session, q.discounts.member_card_id, q.points.points, ref)
    if q.from_cart:
        await session.execute(_CLEAR_CART, {"customer_id": customer_id, "store_id": q.store_id})
    await publish(session, OrderPlaced(order_id=order_id))
    status = "created"
    if t.cash_due_fen == 0:  # stored value pays it all: nothing to wait for
        from orders.mark_paid import mark_paid

        status = (await mark_paid(session, order_id, f"stored-value:{public_id}", now)).status
    metrics.ORDERS.labels(to_status="created").inc()
    log.info("order_placed", order_id=order_id, number=number, store_id=q.store_id, total_fen=t.total_fen)
    return PlacedOrder(
        order_id,
        public_id,
        number,
        status,
        q.kind,
        q.store_id,
        t.total_fen,
        t.cash_due_fen,
        q.promise.promise_at,
        deadline,
        created=True,
        quote=q,
    )
