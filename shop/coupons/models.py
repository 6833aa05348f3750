"""Coupon tables: templates with their quota counter, and the coupons customers hold (one row per claim)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.db import AuditMixin, Base

KINDS = ("threshold", "percent", "cash", "newcomer", "free_delivery")
SCOPES = ("all", "categories", "products", "stores")
TEMPLATE_STATUSES = ("active", "paused", "ended")
AUTO_ISSUE = ("subscribe",)
STATES = ("available", "locked", "used", "returned", "expired")
SOURCES = ("claim", "subscribe", "admin", "segment", "apology")
# A coupon a customer can still put on an order (returned ones came back from a cancelled/refunded order).
USABLE = ("available", "returned")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CouponTemplate(AuditMixin, Base):
    """What a coupon is worth, where it applies, how long it lasts, and how many may be issued.

    `issued` only ever grows by a conditional UPDATE (`issued < total_quota`), so the quota holds under
    any concurrency; the CHECK is the last line of defence.
    """

    __tablename__ = "coupon_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(64), unique=True)  # stable name for seeds and campaigns
    title: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16))
    threshold_fen: Mapped[int] = mapped_column(default=0)  # the in-scope goods must be worth at least this
    off_fen: Mapped[int] = mapped_column(default=0)
    percent_off: Mapped[int | None] = mapped_column(Integer)  # 折扣: 12 = 12% off (8.8折)
    cap_fen: Mapped[int | None]  # 折扣: at most this much off
    scope: Mapped[str] = mapped_column(String(16), default="all")
    scope_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list)
    claim_starts_at: Mapped[datetime | None]
    claim_ends_at: Mapped[datetime | None]
    valid_from: Mapped[datetime | None]  # fixed window (both set) …
    valid_until: Mapped[datetime | None]
    valid_days: Mapped[int | None] = mapped_column(Integer)  # … or N days after the claim
    total_quota: Mapped[int] = mapped_column(Integer)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    per_customer_limit: Mapped[int] = mapped_column(Integer, default=1)
    per_day_limit: Mapped[int | None] = mapped_column(Integer)  # per customer per (Shanghai) day
    claimable: Mapped[bool] = mapped_column(default=True)  # shown in the coupon centre / claim page
    auto_issue: Mapped[str | None] = mapped_column(String(16))  # "subscribe": new followers get one
    status: Mapped[str] = mapped_column(String(16), default="active")

    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        CheckConstraint(_in("scope", SCOPES), name="scope"),
        CheckConstraint(_in("status", TEMPLATE_STATUSES), name="status"),
        CheckConstraint("auto_issue IS NULL OR " + _in("auto_issue", AUTO_ISSUE), name="auto_issue"),
        CheckConstraint("issued >= 0 AND issued <= total_quota", name="quota"),
        CheckConstraint("threshold_fen >= 0 AND off_fen >= 0 AND (cap_fen IS NULL OR cap_fen > 0)", name="amounts"),
        CheckConstraint("percent_off IS NULL OR (percent_off BETWEEN 1 AND 99)", name="percent_off"),
        CheckConstraint("per_customer_limit >= 1 AND (per_day_limit IS NULL OR per_day_limit >= 1)", name="limits"),
        CheckConstraint(
            "(valid_days IS NOT NULL AND valid_days >= 1 AND valid_from IS NULL AND valid_until IS NULL) OR "
            "(valid_days IS NULL AND valid_from IS NOT NULL AND valid_until IS NOT NULL AND valid_from < valid_until)",
            name="validity",
        ),
    )


class CustomerCoupon(Base):
    """One claimed coupon: available → locked (by an order) → used / returned / expired.

    `seq` is the n-th coupon of this template for this customer; UNIQUE (template, customer, seq) makes a
    second concurrent claim by the same customer lose with a constraint error instead of exceeding the limit.
    At most one coupon is locked or used per order (partial unique index on order_id).
    """

    __tablename__ = "customer_coupons"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id", ondelete="RESTRICT"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # shown in store for staff redemption
    state: Mapped[str] = mapped_column(String(16), default="available")
    source: Mapped[str] = mapped_column(String(16), default="claim")
    order_id: Mapped[int | None]
    used_store_id: Mapped[int | None]
    claimed_at: Mapped[datetime]
    claimed_on: Mapped[date]  # Shanghai business day of the claim (per-day limit)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    locked_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    times_returned: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state"),
        CheckConstraint(_in("source", SOURCES), name="source"),
        CheckConstraint("seq >= 1", name="seq"),
        CheckConstraint(
            "state NOT IN ('locked', 'used') OR order_id IS NOT NULL OR used_store_id IS NOT NULL", name="holder"
        ),
        UniqueConstraint("template_id", "customer_id", "seq"),
        Index("ix_customer_coupons_customer_id_state", "customer_id", "state"),
        Index(
            "ix_customer_coupons_order_id",
            "order_id",
            unique=True,
            postgresql_where=text("state IN ('locked', 'used') AND order_id IS NOT NULL"),
        ),
        Index(
            "ix_customer_coupons_valid_until",
            "valid_until",
            postgresql_where=text("state IN ('available', 'returned')"),
        ),
        Index("ix_customer_coupons_template_id_state", "template_id", "state"),
    )
