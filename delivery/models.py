"""Delivery tables: one dispatch per urgent order, its offers to stores, its audit events, and each store's busy toggle."""

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
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import AuditMixin, Base

# offering: rings of offers are out; accepted: a store claimed it (or HQ took it) and works on it;
# delivered: handed over; cancelled: the order was cancelled from elsewhere; failed: nobody could make it.
DISPATCH_STATUSES = ("pending", "offering", "accepted", "delivered", "cancelled", "failed")
OFFER_STATUSES = ("open", "accepted", "declined", "expired", "withdrawn")
ACTIVE_DISPATCH = ("pending", "offering", "accepted")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Dispatch(AuditMixin, Base):
    __tablename__ = "dispatches"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    ring: Mapped[int] = mapped_column(SmallInteger, default=0)
    origin_store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="RESTRICT"))
    accepted_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="RESTRICT"))
    lat: Mapped[float] = mapped_column(Double)
    lng: Mapped[float] = mapped_column(Double)
    lines: Mapped[list[dict[str, int]]] = mapped_column(JSONB, default=list)  # [{"sku_id", "qty"}]
    fallback: Mapped[str | None] = mapped_column(String(16))  # hq | cancelled
    courier_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    proof_photo_url: Mapped[str | None] = mapped_column(String(500))
    risk_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    # The SLA clock: each stage's time.
    paid_at: Mapped[datetime]
    promise_at: Mapped[datetime]
    ready_at: Mapped[datetime]
    first_offer_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    preparing_at: Mapped[datetime | None]
    out_for_delivery_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", DISPATCH_STATUSES), name="status"),
        CheckConstraint("fallback IS NULL OR fallback IN ('hq', 'cancelled')", name="fallback"),
        CheckConstraint("status <> 'accepted' OR accepted_store_id IS NOT NULL", name="accepted_store"),
        Index("ix_dispatches_status", "status"),
        # A store's current urgent load: its claimed, undelivered dispatches.
        Index("ix_dispatches_accepted_store_id", "accepted_store_id", postgresql_where=text("status = 'accepted'")),
    )


class DispatchOffer(Base):
    """One store asked to take one order, until a deadline; at most one offer per store per dispatch."""

    __tablename__ = "dispatch_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    ring: Mapped[int] = mapped_column(SmallInteger)  # 0 = the HQ fallback
    rank: Mapped[int] = mapped_column(SmallInteger)
    distance_m: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    sent_at: Mapped[datetime] = mapped_column(default=clock.now)
    deadline_at: Mapped[datetime]
    seen_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decline_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint(_in("status", OFFER_STATUSES), name="status"),
        CheckConstraint("status <> 'declined' OR decline_reason IS NOT NULL", name="decline_reason"),
        UniqueConstraint("dispatch_id", "store_id"),
        # First claim wins: the database refuses a second accepted offer for the same order.
        Index("ix_dispatch_offers_one_accepted", "order_id", unique=True, postgresql_where=text("status = 'accepted'")),
        Index("ix_dispatch_offers_store_id_status", "store_id", "status"),
    )


class DispatchEvent(Base):
    """The audit trail: every dispatch decision and action, with who and when (the timeline reads it)."""

    __tablename__ = "dispatch_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id", ondelete="CASCADE"))
    order_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[int | None]
    offer_id: Mapped[int | None]
    ring: Mapped[int | None] = mapped_column(SmallInteger)
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300), default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    at: Mapped[datetime]

    __table_args__ = (
        Index("ix_dispatch_events_order_id_id", "order_id", "id"),
        Index("ix_dispatch_events_dispatch_id_kind_at", "dispatch_id", "kind", "at"),
    )


class StoreDispatchState(Base):
    """A store's staff pause urgent offers while busy (until a time, or until they switch it off)."""

    __tablename__ = "store_dispatch_state"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True)
    urgent_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[datetime | None]
    paused_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
