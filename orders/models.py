"""Order tables: carts, orders and their lines, the status event log, after-sales refund requests, per-store order settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import AuditMixin, Base

KINDS = ("pickup", "delivery", "urgent")
STATUSES = (
    "created",
    "paid",
    "reviewing",
    "dispatching",
    "accepted",
    "preparing",
    "ready",
    "out_for_delivery",
    "delivered",
    "picked_up",
    "completed",
    "cancelled",
)
REVIEW_STATUSES = ("none", "pending", "approved", "rejected")
REFUND_STATUSES = ("requested", "approved", "rejected", "refunded")

ORDER_NUMBER_SEQ = Sequence("order_number_seq")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CartLine(Base):
    """One SKU in a customer's cart at one store, with the price the customer saw when adding it."""

    __tablename__ = "cart_lines"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True)
    qty: Mapped[int] = mapped_column(Integer)
    price_seen_fen: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        CheckConstraint("qty BETWEEN 1 AND 99", name="qty"),
        CheckConstraint("price_seen_fen >= 0", name="price_seen_fen"),
    )


class StoreOrderSettings(Base):
    """Per-store order rules; a store without a row uses the defaults in orders.store_settings."""

    __tablename__ = "store_order_settings"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True)
    payment_deadline_min: Mapped[int] = mapped_column(Integer, default=15)
    auto_complete_days: Mapped[int] = mapped_column(Integer, default=7)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now, server_default=func.now())

    __table_args__ = (
        CheckConstraint("payment_deadline_min BETWEEN 1 AND 120", name="payment_deadline_min"),
        CheckConstraint("auto_complete_days BETWEEN 1 AND 60", name="auto_complete_days"),
    )


class Order(AuditMixin, Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # unguessable; the only id in URLs
    number: Mapped[str] = mapped_column(String(20), unique=True)  # human-readable, for people and receipts
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="RESTRICT"))  # selling store
    fulfil_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), default="created")
    idempotency_key: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))

    items_fen: Mapped[int]
    discount_fen: Mapped[int] = mapped_column(default=0)
    delivery_fee_fen: Mapped[int] = mapped_column(default=0)
    urgent_fee_fen: Mapped[int] = mapped_column(default=0)
    total_fen: Mapped[int]
    stored_value_fen: Mapped[int] = mapped_column(default=0)
    cash_due_fen: Mapped[int]
    paid_fen: Mapped[int] = mapped_column(default=0)
    refunded_fen: Mapped[int] = mapped_column(default=0)
    coupon_id: Mapped[int | None]
    member_card_id: Mapped[int | None]

    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    address_text: Mapped[str] = mapped_column(String(500), default="")
    lat: Mapped[float | None] = mapped_column(Double)
    lng: Mapped[float | None] = mapped_column(Double)
    distance_m: Mapped[int | None] = mapped_column(Integer)
    pickup_at: Mapped[datetime | None]
    promise_at: Mapped[datetime]
    payment_deadline_at: Mapped[datetime]
    handoff_code: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(200), default="")

    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    prescription_url: Mapped[str | None] = mapped_column(String(500))
    review_status: Mapped[str] = mapped_column(String(16), default="none")
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    review_reason: Mapped[str | None] = mapped_column(String(300))

    payment_ref: Mapped[str | None] = mapped_column(String(64))
    cancel_reason: Mapped[str | None] = mapped_column(String(300))
    cancel_requested_at: Mapped[datetime | None]
    cancel_request_reason: Mapped[str | None] = mapped_column(String(300))

    # Stage timestamps: the SLA clock reads these.
    placed_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    reviewing_at: Mapped[datetime | None]
    reviewed_at: Mapped[datetime | None]
    ready_for_fulfilment_at: Mapped[datetime | None]
    dispatching_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    preparing_at: Mapped[datetime | None]
    ready_at: Mapped[datetime | None]
    out_for_delivery_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    picked_up_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("customer_id", "idempotency_key"),
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("review_status", REVIEW_STATUSES), name="review_status"),
        CheckConstraint(
            "items_fen >= 0 AND discount_fen >= 0 AND delivery_fee_fen >= 0 AND urgent_fee_fen >= 0 "
            "AND stored_value_fen >= 0 AND paid_fen >= 0 AND refunded_fen >= 0",
            name="amounts",
        ),
        CheckConstraint("discount_fen <= items_fen", name="discount_fen"),
        CheckConstraint(
            "total_fen = items_fen - discount_fen + delivery_fee_fen + urgent_fee_fen AND total_fen >= 0",
            name="total_fen",
        ),
        CheckConstraint("cash_due_fen = total_fen - stored_value_fen AND cash_due_fen >= 0", name="cash_due_fen"),
        CheckConstraint("refunded_fen <= paid_fen + stored_value_fen", name="refunded_fen"),
        CheckConstraint("kind = 'pickup' OR (lat IS NOT NULL AND lng IS NOT NULL)", name="address"),
        CheckConstraint("NOT needs_review OR prescription_url IS NOT NULL", name="prescription"),
        Index("ix_orders_customer_id_id", "customer_id", "id"),
        Index("ix_orders_store_id_status", "store_id", "status"),
        Index("ix_orders_fulfil_store_id_status", "fulfil_store_id", "status"),
        Index("ix_orders_status_placed_at", "status", "placed_at"),
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    line_no: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="RESTRICT"))
    product_id: Mapped[int]
    title: Mapped[str] = mapped_column(String(120))
    spec: Mapped[str] = mapped_column(String(100), default="")
    qty: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int]
    line_fen: Mapped[int]
    discount_fen: Mapped[int] = mapped_column(default=0)
    prescription_required: Mapped[bool] = mapped_column(Boolean, default=False)
    refunded_qty: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("order_id", "sku_id"),
        CheckConstraint("qty > 0", name="qty"),
        CheckConstraint("unit_price_fen >= 0 AND line_fen = unit_price_fen * qty", name="line_fen"),
        CheckConstraint("discount_fen >= 0 AND discount_fen <= line_fen", name="discount_fen"),
        CheckConstraint("refunded_qty >= 0 AND refunded_qty <= qty", name="refunded_qty"),
    )


class OrderEvent(Base):
    """Who did what to an order, when and why: every status transition, review, cancel request and refund decision."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24), default="status")
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300), default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    at: Mapped[datetime]

    __table_args__ = (Index("ix_order_events_order_id_id", "order_id", "id"),)


class RefundRequest(Base):
    """After-sales: a customer asks for money back on a delivered order (whole or some lines)."""

    __tablename__ = "refund_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    whole_order: Mapped[bool] = mapped_column(Boolean)
    lines: Mapped[list[dict[str, int]]] = mapped_column(JSONB, default=list)  # [{"line_no", "qty"}]
    amount_fen: Mapped[int]
    reason: Mapped[str] = mapped_column(String(300))
    photo_urls: Mapped[list[str]] = mapped_column(ARRAY(String(500)), default=list)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision_reason: Mapped[str | None] = mapped_column(String(300))
    decided_at: Mapped[datetime | None]
    goods_returned: Mapped[bool] = mapped_column(Boolean, default=False)
    refunded_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", REFUND_STATUSES), name="status"),
        CheckConstraint("amount_fen > 0", name="amount_fen"),
        Index("ix_refund_requests_order_id", "order_id"),
        # One open request per order: a second must wait for the decision on the first.
        Index("ix_refund_requests_one_open", "order_id", unique=True, postgresql_where=text("status = 'requested'")),
    )
