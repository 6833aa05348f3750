"""Stock tables: per-store levels, the movement log, and reservations held for orders (by ref)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import AuditMixin, Base

MOVEMENT_KINDS = ("receive", "adjust", "reserve", "release", "sell", "return")
RESERVATION_STATUSES = ("held", "released", "committed")


class StockLevel(Base):
    __tablename__ = "stock_levels"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now, server_default=func.now())

    __table_args__ = (
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved"),
        Index("ix_stock_levels_sku_id", "sku_id"),
    )


class StockMovement(Base):
    """Every change of a level: the sums of the deltas per (store, SKU) equal the level."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(default=0)
    reserved_delta: Mapped[int] = mapped_column(default=0)
    ref: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(64), default="system")
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        CheckConstraint(
            "kind IN ('receive', 'adjust', 'reserve', 'release', 'sell', 'return')",
            name="kind",
        ),
        Index("ix_stock_movements_store_id_sku_id", "store_id", "sku_id"),
        Index("ix_stock_movements_ref", "ref"),
    )


class StockReservation(AuditMixin, Base):
    """Units held for one ref (an order) at one store: held → committed (sold) or released."""

    __tablename__ = "stock_reservations"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(100), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default="held")

    __table_args__ = (
        CheckConstraint("status IN ('held', 'released', 'committed')", name="status"),
        Index("ix_stock_reservations_store_id", "store_id"),
    )


class StockReservationLine(Base):
    __tablename__ = "stock_reservation_lines"

    reservation_id: Mapped[int] = mapped_column(
        ForeignKey("stock_reservations.id", ondelete="CASCADE"), primary_key=True
    )
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="RESTRICT"), primary_key=True)
    qty: Mapped[int]
    returned: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        CheckConstraint("qty > 0", name="qty"),
        CheckConstraint("returned >= 0 AND returned <= qty", name="returned"),
    )
