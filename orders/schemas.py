"""API shapes of the orders domain (msgspec): what customers, staff and admins send and get back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from orders.checkout import AddressIn, CheckoutRequest, LineIn

__all__ = ["AddressIn", "CheckoutRequest", "LineIn"]


class QuoteLineOut(msgspec.Struct):
    sku_id: int
    title: str
    spec: str
    qty: int
    unit_price_fen: int
    line_fen: int
    discount_fen: int
    prescription_required: bool
    price_changed: bool


class CouponOptionOut(msgspec.Struct):
    coupon_id: int
    title: str
    applicable: bool
    reason: str | None  # why not, in Chinese
    discount_fen: int


class QuoteOut(msgspec.Struct):
    store_id: int
    kind: str
    lines: list[QuoteLineOut]
    items_fen: int
    discount_fen: int
    delivery_fee_fen: int
    urgent_fee_fen: int
    total_fen: int
    stored_value_fen: int
    cash_due_fen: int
    promise_at: datetime
    promise_minutes: int
    distance_m: int | None
    prescription_required: bool
    payment_deadline_min: int
    discounts: list[str]
    price_changed: bool
    coupon_id: int | None = None  # the coupon applied
    coupon_options: list[CouponOptionOut] = []
    best_coupon_id: int | None = None
    # Member fields (the member card partial of the checkout page reads them from quote:updated).
    member_card_id: int | None = None
    member_discount_fen: int = 0
    points: int = 0  # points spent on this order
    points_fen: int = 0  # what they take off (part of discount_fen)
    points_available: int = 0
    points_max: int = 0  # the most this order may spend
    member_balance_fen: int | None = None  # the card's stored value (None: no card)


class PlacedOut(msgspec.Struct):
    id: str
    number: str
    status: str
    kind: str
    store_id: int
    total_fen: int
    cash_due_fen: int
    promise_at: datetime
    payment_deadline_at: datetime
    replayed: bool = False


class AddressOut(msgspec.Struct):
    contact_name: str
    phone: str
    address: str
    lat: float
    lng: float


class OrderLineOut(msgspec.Struct):
    line_no: int
    sku_id: int
    title: str
    spec: str
    qty: int
    unit_price_fen: int
    line_fen: int
    discount_fen: int
    prescription_required: bool
    refunded_qty: int


class OrderEventOut(msgspec.Struct):
    kind: str
    from_status: str | None
    to_status: str | None
    actor: str
    reason: str
    at: datetime
    data: dict[str, Any] | None = None


class OrderOut(msgspec.Struct):
    id: str
    number: str
    kind: str
    status: str
    store_id: int
    fulfil_store_id: int | None
    items_fen: int
    discount_fen: int
    delivery_fee_fen: int
    urgent_fee_fen: int
    total_fen: int
    stored_value_fen: int
    cash_due_fen: int
    paid_fen: int
    refunded_fen: int
    address: AddressOut | None
    distance_m: int | None
    pickup_at: datetime | None
    promise_at: datetime
    payment_deadline_at: datetime
    needs_review: bool
    review_status: str
    review_reason: str | None
    prescription_url: str | None
    cancel_reason: str | None
    cancel_requested: bool
    cancel_request_reason: str | None
    note: str
    stages: dict[str, datetime]
    lines: list[OrderLineOut]
    timeline: list[OrderEventOut]
    handoff_code: str | None = None  # the customer's own view only: they show it at handover
    allowed_next: list[str] = msgspec.field(default_factory=list)


class OrderListItem(msgspec.Struct):
    id: str
    number: str
    kind: str
    status: str
    store_id: int
    fulfil_store_id: int | None
    total_fen: int
    item_count: int
    first_title: str
    placed_at: datetime
    promise_at: datetime
    needs_review: bool
    review_status: str
    cancel_requested: bool
    minutes_left: int | None = None  # until the promise (review queue, open orders)


class OrderPage(msgspec.Struct):
    items: list[OrderListItem]
    total: int
    page: int
    page_size: int


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


class CancelOut(msgspec.Struct):
    id: str
    outcome: str  # cancelled | requested | already_cancelled
    status: str
    refund_due_fen: int


class TransitionIn(msgspec.Struct, forbid_unknown_fields=True):
    to: str
    reason: str = ""
    handoff_code: str | None = None  # required for picked_up and delivered
    fulfil_store_id: int | None = None


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    approve: bool
    reason: str = ""


class RefundDecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    approve: bool
    reason: str = ""
    goods_returned: bool = False


class RefundLineIn(msgspec.Struct, forbid_unknown_fields=True):
    sku_id: int
    qty: int


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    lines: list[RefundLineIn] | None = None  # None: the whole order
    photo_urls: list[str] = msgspec.field(default_factory=list)


class RefundOut(msgspec.Struct):
    id: str
    order_id: str
    order_number: str
    status: str
    whole_order: bool
    lines: list[dict[str, int]]
    amount_fen: int
    reason: str
    photo_urls: list[str]
    requested_at: datetime
    decided_by: str | None
    decision_reason: str | None
    decided_at: datetime | None
    goods_returned: bool


class RefundPage(msgspec.Struct):
    items: list[RefundOut]
    total: int
    page: int
    page_size: int


class CartItemIn(msgspec.Struct, forbid_unknown_fields=True):
    qty: int


class CartItemOut(msgspec.Struct):
    sku_id: int
    title: str
    spec: str
    qty: int
    price_fen: int
    price_seen_fen: int
    price_changed: bool
    available: bool
    prescription_required: bool


class CartOut(msgspec.Struct):
    store_id: int
    items: list[CartItemOut]
    items_fen: int


class OrderSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    payment_deadline_min: int
    auto_complete_days: int


class OrderSettingsOut(msgspec.Struct):
    store_id: int
    payment_deadline_min: int
    auto_complete_days: int


Stage = Literal["new", "review", "active", "cancel_requests", "done", "cancelled", "all"]
