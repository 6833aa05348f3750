"""Quote: what a checkout would cost and when it would arrive, at the store's current prices.

Used by the quote endpoint (stale prices are flagged, not refused) and by place_order (stale prices,
a changed total or a missing prescription are refused before anything is written).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from orders import pricing
from orders.checkout import Address, CheckoutRequest, Context, LineIn, read_context, sku_or_error, validate
from orders.errors import (
    OutOfDeliveryRange,
    PrescriptionRequired,
    PriceChanged,
    StoreNotAvailable,
    TotalChanged,
    UrgentNotAvailable,
)
from orders.fulfilment import (
    PICKUP_MAX_DAYS_AHEAD,
    PICKUP_PREP_MIN,
    Promise,
    delivery_promise,
    pickup_promise,
    urgent_promise,
)
from orders.pricing_seams import NO_POINTS, DiscountLine, Discounts, PointsUse, discounts_for, points_for
from shop.services import OutOfStock
from shop.stores.geo import haversine_m


@dataclass(frozen=True, slots=True)
class QuoteLine:
    sku_id: int
    product_id: int
    title: str
    spec: str
    qty: int
    unit_price_fen: int
    line_fen: int
    discount_fen: int
    prescription_required: bool
    seen_price_fen: int | None
    available: int

    @property
    def price_changed(self) -> bool:
        return self.seen_price_fen is not None and self.seen_price_fen != self.unit_price_fen


@dataclass(frozen=True, slots=True)
class Quote:
    store_id: int
    kind: str
    lines: tuple[QuoteLine, ...]
    totals: pricing.Totals
    promise: Promise
    discounts: Discounts
    address: Address | None
    distance_m: int | None
    needs_prescription: bool
    payment_deadline_min: int
    pickup_at: datetime | None
    from_cart: bool
    points: PointsUse = NO_POINTS  # member points spent (their fen are in the totals' discount)

    @property
    def stale(self) -> list[dict[str, int]]:
        return [
            {"sku_id": x.sku_id, "price_fen": x.unit_price_fen, "seen_fen": x.seen_price_fen or 0}
            for x in self.lines
            if x.price_changed
        ]


def _lines_of(req: CheckoutRequest, ctx: Context) -> list[LineIn]:
    if req.lines is not None:
        return list(req.lines)
    if not ctx.cart:
        raise InvalidInput(f"your cart at store {req.store_id} is empty; add items first")
    return ctx.cart


async def build_quote(
    session: AsyncSession, customer_id: int, req: CheckoutRequest, ctx: Context, *, coupon_options: bool = False
) -> Quote:
    store = ctx.store
    if store is None:
        raise InvalidInput(f"store {req.store_id} does not exist")
    if not store.active:
        raise StoreNotAvailable(f"store {store.id} is not taking orders right now; choose another store")
    wanted = _lines_of(req, ctx)
    skus = [sku_or_error(ctx, store.id, line.sku_id) for line in wanted]
    now = clock.now()

    distance: float | None = None
    delivery_fee = urgent_fee = 0
    if req.kind == "pickup":
        if req.pickup_at is not None:
            if req.pickup_at < now + timedelta(minutes=PICKUP_PREP_MIN - 1):
                raise InvalidInput(f"pickup_at must be at least {PICKUP_PREP_MIN} minutes from now")
            if req.pickup_at > now + timedelta(days=PICKUP_MAX_DAYS_AHEAD):
                raise InvalidInput(f"pickup_at must be within {PICKUP_MAX_DAYS_AHEAD} days")
        promise = pickup_promise(req.pickup_at, now)
        if not store.schedule.is_open_at(promise.promise_at):
            when = "at that time" if req.pickup_at else "now"
            raise StoreNotAvailable(f"store {store.id} is closed {when}; pick a time when it is open")
    else:
        address = ctx.address
        if address is None:
            raise InvalidInput(f"address {req.address_id} is not one of your saved addresses")
        distance = haversine_m(store.lat, store.lng, address.lat, address.lng)
        if req.kind == "delivery":
            if distance > store.radius_m:
                raise OutOfDeliveryRange(
                    f"the address is {distance / 1000:.1f} km from store {store.id}, which delivers within "
                    f"{store.radius_m / 1000:.1f} km; choose a nearer store, or pickup"
                )
            if not store.schedule.is_open_at(now):
                raise StoreNotAvailable(f"store {store.id} is closed now; choose pickup later or another store")
            promise = delivery_promise(distance, now)
            delivery_fee = pricing.delivery_fee_fen(distance)
        else:
            found = await urgent_promise(session, address.lat, address.lng, [(x.sku_id, x.qty) for x in wanted])
            if found is None:
                raise UrgentNotAvailable(
                    "no store can deliver to this address within the hour right now; choose normal delivery or pickup"
                )
            promise = found
            delivery_fee = pricing.delivery_fee_fen(found.distance_m if found.distance_m is not None else distance)
            urgent_fee = pricing.URGENT_SURCHARGE_FEN

    dlines = [DiscountLine(s.sku_id, x.qty, s.price_fen) for s, x in zip(skus, wanted, strict=True)]
    discounts = await discounts_for(
        session,
        customer_id,
        store.id,
        dlines,
        req.coupon_id,
        coupon_options=coupon_options,
        best_coupon=req.best_coupon,
        delivery_fee_fen=delivery_fee,
        member_terms=ctx.member,
    )
    if discounts.free_delivery:
        delivery_fee = 0
    goods = sum(s.price_fen * x.qty for s, x in zip(skus, wanted, strict=True))
    points = await points_for(
        session, customer_id, discounts.member_card_id, req.points, max(0, goods - sum(discounts.amounts))
    )
    totals = pricing.price(
        [(s.price_fen, x.qty) for s, x in zip(skus, wanted, strict=True)],
        discounts_fen=(*discounts.amounts, points.fen),
        delivery_fee_fen=delivery_fee,
        urgent_fee_fen=urgent_fee,
        stored_value_fen=req.stored_value_fen,
    )
    if req.stored_value_fen > totals.total_fen:
        raise InvalidInput(f"stored_value_fen {req.stored_value_fen} is more than the order total {totals.total_fen}")
    lines = tuple(
        QuoteLine(
            s.sku_id,
            s.product_id,
            s.title,
            s.spec,
            x.qty,
            s.price_fen,
            p.line_fen,
            p.discount_fen,
            s.prescription_required,
            x.unit_price_fen,
            s.available,
        )
        for s, x, p in zip(skus, wanted, totals.lines, strict=True)
    )
    return Quote(
        store_id=store.id,
        kind=req.kind,
        lines=lines,
        totals=totals,
        promise=promise,
        discounts=discounts,
        address=ctx.address if req.kind != "pickup" else None,
        distance_m=round(distance) if distance is not None else None,
        needs_prescription=any(s.prescription_required for s in skus),
        payment_deadline_min=store.payment_deadline_min,
        pickup_at=req.pickup_at,
        from_cart=req.lines is None,
        points=points,
    )


def check_orderable(req: CheckoutRequest, q: Quote) -> None:
    """What placing needs beyond a quote: current prices, the confirmed total, a prescription."""
    if q.stale:
        raise PriceChanged(q.stale)
    if req.expected_total_fen is not None and req.expected_total_fen != q.totals.total_fen:
        raise TotalChanged(req.expected_total_fen, q.totals.total_fen)
    if q.needs_prescription and not req.prescription_url:
        raise PrescriptionRequired(sorted({x.title for x in q.lines if x.prescription_required}))


def check_stock_seen(q: Quote) -> None:
    """Refuse early when the read already showed too little stock (the seam re-checks under lock)."""
    short = [
        {"sku_id": x.sku_id, "wanted": x.qty, "available": max(x.available, 0)} for x in q.lines if x.qty > x.available
    ]
    if short:
        raise OutOfStock(q.store_id, short)


async def quote(session: AsyncSession, customer_id: int, req: CheckoutRequest) -> Quote:
    """The price and promise of this checkout now; nothing is reserved."""
    validate(req)
    ctx = await read_context(session, customer_id, req)
    return await build_quote(session, customer_id, req, ctx, coupon_options=True)
