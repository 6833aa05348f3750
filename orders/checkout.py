"""What a checkout asks for (the request), its checks, and the one read that gathers everything a quote needs.

The read is a single statement: the store with its hours and order settings, the requested SKUs at
that store's prices, the delivery address, the customer's cart (when ordering from it) and any order
already placed under the same Idempotency-Key — so quoting and placing start with one round trip.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from orders.driver_sql import DriverStatement, fetchrow
from orders.errors import UnknownSku
from orders.pricing_seams import UNREAD, member_terms_column, member_terms_from
from orders.store_settings import DEFAULT_PAYMENT_DEADLINE_MIN
from shop.stores.geo import check_point
from shop.stores.hours import Interval, Schedule, build_schedule

MAX_LINES = 50
MAX_QTY = 99


class LineIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku_id: int
    qty: int
    # The unit price the customer saw; when the current price differs, ordering answers 409 (re-quote).
    unit_price_fen: int | None = None


class AddressIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    contact_name: str
    phone: str
    address: str
    lat: float
    lng: float


class CheckoutRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A quote or an order. Without `lines`, the customer's cart at this store is ordered."""

    store_id: int
    kind: Literal["pickup", "delivery", "urgent"]
    lines: list[LineIn] | None = None
    address_id: int | None = None
    address: AddressIn | None = None
    pickup_at: datetime | None = None
    coupon_id: int | None = None
    # Without coupon_id: true applies the best applicable coupon (the quote's best_coupon_id).
    best_coupon: bool = False
    stored_value_fen: int = 0
    points: int = 0  # member points to spend (1 point = 1 fen off, capped per order by members)
    prescription_url: str | None = None
    note: str = ""
    # The total the customer confirmed; when the order would cost something else, 409 (re-quote).
    expected_total_fen: int | None = None


_encoder = msgspec.json.Encoder()


def request_hash(req: CheckoutRequest) -> str:
    """Fingerprint of the decoded request: the same order asked twice has the same hash, whatever the JSON spacing."""
    return hashlib.sha256(_encoder.encode(req)).hexdigest()


def _int(value: object, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidInput(f"{what} must be a whole number from {lo} to {hi}, got {value!r}")
    return value


def validate(req: CheckoutRequest) -> None:
    """Shape checks that need no database; each message says what to change."""
    _int(req.store_id, "store_id", 1, 2**62)
    if req.lines is not None:
        if not req.lines:
            raise InvalidInput("lines is empty: add at least one item (or leave lines out to order your cart)")
        if len(req.lines) > MAX_LINES:
            raise InvalidInput(f"an order has at most {MAX_LINES} different items")
        seen: set[int] = set()
        for line in req.lines:
            _int(line.sku_id, "sku_id", 1, 2**62)
            if isinstance(line.qty, bool) or not isinstance(line.qty, int) or not 1 <= line.qty <= MAX_QTY:
                raise InvalidInput(f"quantity of SKU {line.sku_id} must be between 1 and {MAX_QTY}, got {line.qty}")
            if line.unit_price_fen is not None:
                _int(line.unit_price_fen, f"unit_price_fen of SKU {line.sku_id}", 0, 10**10)
            if line.sku_id in seen:
                raise InvalidInput(f"SKU {line.sku_id} appears twice; give each item once with its total quantity")
            seen.add(line.sku_id)
    if req.kind == "pickup":
        if req.address_id is not None or req.address is not None:
            raise InvalidInput("a pickup order has no delivery address; leave address and address_id out")
    else:
        if (req.address_id is None) == (req.address is None):
            raise InvalidInput(f"a {req.kind} order needs a delivery address: give address_id or address (not both)")
        if req.pickup_at is not None:
            raise InvalidInput("pickup_at is for pickup orders only")
        if req.address is not None:
            check_point(req.address.lat, req.address.lng)
            for name, value, most in (
                ("contact_name", req.address.contact_name, 50),
                ("phone", req.address.phone, 32),
                ("address", req.address.address, 300),
            ):
                if not value.strip() or len(value) > most:
                    raise InvalidInput(f"address.{name} must be 1–{most} characters")
    if req.pickup_at is not None and req.pickup_at.tzinfo is None:
        raise InvalidInput("pickup_at needs a time zone, e.g. 2026-05-01T18:30:00+08:00")
    _int(req.stored_value_fen, "stored_value_fen", 0, 10**10)
    _int(req.points, "points", 0, 10**9)
    if req.expected_total_fen is not None:
        _int(req.expected_total_fen, "expected_total_fen", 0, 10**12)
    if req.prescription_url is not None and (
        not req.prescription_url.startswith(("https://", "http://")) or len(req.prescription_url) > 500
    ):
        raise InvalidInput("prescription_url must be an http(s) URL of at most 500 characters")
    if len(req.note) > 200:
        raise InvalidInput("note must be at most 200 characters")


@dataclass(frozen=True, slots=True)
class StoreInfo:
    id: int
    lat: float
    lng: float
    radius_m: int
    active: bool
    payment_deadline_min: int
    schedule: Schedule


@dataclass(frozen=True, slots=True)
class SkuInfo:
    sku_id: int
    product_id: int
    title: str
    spec: str
    price_fen: int
    sellable: bool
    prescription_required: bool
    available: int  # on hand − reserved when read; the stock seam decides, this only fails fast


@dataclass(frozen=True, slots=True)
class Address:
    contact_name: str
    phone: str
    text: str
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class Existing:
    order_id: int
    request_hash: str
    number: str


@dataclass(frozen=True, slots=True)
class Context:
    store: StoreInfo | None
    skus: dict[int, SkuInfo]
    address: Address | None
    existing: Existing | None
    cart: list[LineIn]
    # False: another transaction with the same customer and Idempotency-Key is still running.
    key_free: bool = True
    member: Any = UNREAD  # the members seam's terms (None: no card), when its column was read along


_READ = """
    SELECT
      (SELECT json_build_array(s.id, s.lat, s.lng, s.radius_m, s.status = 'active',
                coalesce(os.payment_deadline_min, :default_deadline),
                (SELECT coalesce(json_agg(json_build_array(h.weekday, h.open_min, h.close_min)), '[]')
                   FROM store_hours h WHERE h.store_id = s.id),
                (SELECT coalesce(json_agg(json_build_array(x.on_date, x.open_min, x.close_min)), '[]')
                   FROM store_hours_exceptions x
                  WHERE x.store_id = s.id AND x.on_date BETWEEN :from_date AND :to_date))
         FROM stores s LEFT JOIN store_order_settings os ON os.store_id = s.id
        WHERE s.id = :store_id) AS store,
      (SELECT json_agg(json_build_array(k.id, p.id, p.title, k.spec, coalesce(l.price_fen, k.base_price_fen),
                coalesce(l.listed AND k.active AND p.active, false), p.prescription_required,
                coalesce(st.on_hand - st.reserved, 0)))
         FROM skus k JOIN products p ON p.id = k.product_id
         LEFT JOIN store_listings l ON l.store_id = :store_id AND l.sku_id = k.id
         LEFT JOIN stock_levels st ON st.store_id = :store_id AND st.sku_id = k.id
        WHERE k.id = ANY(CAST(:sku_ids AS bigint[]))
           OR (:use_cart AND k.id IN (SELECT c.sku_id FROM cart_lines c
                                       WHERE c.customer_id = :customer_id AND c.store_id = :store_id))) AS skus,
      (SELECT json_build_array(a.contact_name, a.phone, trim(a.address || ' ' || a.detail), a.lat, a.lng)
         FROM customer_addresses a WHERE a.id = :address_id AND a.customer_id = :customer_id) AS address,
      (SELECT json_build_array(o.id, o.request_hash, o.number)
         FROM orders o WHERE o.customer_id = :customer_id AND o.idempotency_key = :key) AS existing,
      (SELECT json_agg(json_build_array(c.sku_id, c.qty, c.price_seen_fen) ORDER BY c.sku_id)
         FROM cart_lines c WHERE :use_cart AND c.customer_id = :customer_id AND c.store_id = :store_id) AS cart,
      CASE WHEN CAST(:key_lock AS bigint) IS NULL THEN true
           ELSE pg_try_advisory_xact_lock(CAST(:key_lock AS bigint)) END AS key_free
      {member}
    """
_read: DriverStatement | None = None


def _read_statement() -> DriverStatement:
    """The read, with the members seam's column when there is one (built on first use, after imports)."""
    global _read
    if _read is None:
        column = member_terms_column()
        _read = DriverStatement(_READ.format(member=f", {column} AS member" if column else ""))
    return _read


def key_lock(customer_id: int, idempotency_key: str) -> int:
    """The advisory lock id of a (customer, Idempotency-Key): the same in every process."""
    digest = hashlib.sha256(f"orders.key:{customer_id}:{idempotency_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _schedule(hours: list[list[int]], exceptions: list[list[object]]) -> Schedule:
    return build_schedule(
        ((wd, Interval(o, c)) for wd, o, c in hours),
        (
            (date.fromisoformat(str(d)), Interval(int(o), int(c)) if o is not None else None)  # type: ignore[call-overload]
            for d, o, c in exceptions
        ),
    )


async def read_context(
    session: AsyncSession, customer_id: int, req: CheckoutRequest, idempotency_key: str | None = None
) -> Context:
    today = clock.now_shanghai().date()
    row = await fetchrow(
        session,
        _read_statement(),
        {
            "store_id": req.store_id,
            "customer_id": customer_id,
            "sku_ids": [x.sku_id for x in req.lines or ()],
            "use_cart": req.lines is None,
            "address_id": req.address_id,
            "key": idempotency_key,
            "default_deadline": DEFAULT_PAYMENT_DEADLINE_MIN,
            "from_date": today - timedelta(days=1),
            "to_date": today + timedelta(days=4),
            "key_lock": key_lock(customer_id, idempotency_key) if idempotency_key else None,
        },
    )
    store = None
    if row["store"] is not None:
        sid, lat, lng, radius, active, deadline, hours, exceptions = row["store"]
        store = StoreInfo(sid, lat, lng, radius, active, deadline, _schedule(hours, exceptions))
    skus = {r[0]: SkuInfo(*r) for r in row["skus"] or ()}
    address = None
    if req.address is not None:
        a = req.address
        address = Address(a.contact_name.strip(), a.phone.strip(), a.address.strip(), float(a.lat), float(a.lng))
    elif row["address"] is not None:
        address = Address(*row["address"])
    existing = Existing(*row["existing"]) if row["existing"] is not None else None
    cart = [LineIn(sku, qty, seen) for sku, qty, seen in row["cart"] or ()]
    raw_member = row.get("member", UNREAD)
    member = UNREAD if raw_member is UNREAD else member_terms_from(raw_member)
    return Context(store, skus, address, existing, cart, bool(row["key_free"]), member)


def sku_or_error(ctx: Context, store_id: int, sku_id: int) -> SkuInfo:
    sku = ctx.skus.get(sku_id)
    if sku is None:
        raise UnknownSku(f"SKU {sku_id} does not exist")
    if not sku.sellable:
        raise UnknownSku(f"{sku.title} (SKU {sku_id}) is not sold at store {store_id}; remove it from the order")
    return sku
