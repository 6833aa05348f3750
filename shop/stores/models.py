"""Store tables: stores, weekly opening hours, dated exceptions, and which staff work where."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import AuditMixin, Base

STORE_STATUSES = ("active", "paused")


class Store(AuditMixin, Base):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    # GCJ-02, as WeChat's getLocation reports them.
    lat: Mapped[float] = mapped_column(Double)
    lng: Mapped[float] = mapped_column(Double)
    radius_m: Mapped[int] = mapped_column(Integer)
    urgent_capacity: Mapped[int] = mapped_column(Integer, default=0)
    is_partner: Mapped[bool] = mapped_column(Boolean, default=False)
    is_hq: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")

    __table_args__ = (
        CheckConstraint("lat BETWEEN -90 AND 90", name="lat"),
        CheckConstraint("lng BETWEEN -180 AND 180", name="lng"),
        CheckConstraint("radius_m > 0", name="radius_m"),
        CheckConstraint("urgent_capacity >= 0", name="urgent_capacity"),
        CheckConstraint("status IN ('active', 'paused')", name="status"),
        # One HQ store at most: the dispatch fallback must be unambiguous.
        Index("ix_stores_one_hq", "is_hq", unique=True, postgresql_where=text("is_hq")),
        Index("ix_stores_earth", func.ll_to_earth(text("lat"), text("lng")), postgresql_using="gist"),
        # The largest delivery radius bounds "delivers to this point" searches.
        Index("ix_stores_radius_m", "radius_m"),
    )


class StoreHours(Base):
    """One opening interval on a weekday (0 = Monday); close_min > 1440 means it ends after midnight."""

    __tablename__ = "store_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(SmallInteger)
    open_min: Mapped[int] = mapped_column(Integer)
    close_min: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("open_min BETWEEN 0 AND 1439", name="open_min"),
        CheckConstraint("close_min > open_min AND close_min <= open_min + 1440", name="close_min"),
        ExcludeConstraint(
            (text("store_id"), "="),
            (text("int8range(weekday * 1440 + open_min, weekday * 1440 + close_min)"), "&&"),
            using="gist",
            name="ex_store_hours_overlap",
        ),
        Index("ix_store_hours_store_id", "store_id"),
    )


class StoreHoursException(Base):
    """A dated override in Asia/Shanghai: no interval (open/close NULL) means closed all day."""

    __tablename__ = "store_hours_exceptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    on_date: Mapped[date] = mapped_column(Date)
    open_min: Mapped[int | None] = mapped_column(Integer)
    close_min: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(100), default="")

    __table_args__ = (
        CheckConstraint(
            "(open_min IS NULL AND close_min IS NULL) OR (open_min BETWEEN 0 AND 1439 "
            "AND close_min > open_min AND close_min <= open_min + 1440)",
            name="interval",
        ),
        # A closed-all-day row covers the whole day, so it cannot coexist with intervals on that date.
        ExcludeConstraint(
            (text("store_id"), "="),
            (text("on_date"), "="),
            (text("int8range(coalesce(open_min, 0), coalesce(close_min, 1440))"), "&&"),
            using="gist",
            name="ex_store_hours_exceptions_overlap",
        ),
        Index("ix_store_hours_exceptions_store_id_on_date", "store_id", "on_date"),
    )


class StoreStaff(Base):
    """A staff user works at a store (one user may work at several)."""

    __tablename__ = "store_staff"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())

    __table_args__ = (Index("ix_store_staff_user_id", "user_id"),)
