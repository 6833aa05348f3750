"""Member tables: levels, cards (points and stored value split principal/bonus), holds, the card statement,
points awards per order, top-up plans and top-ups, and the single-use member QR tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.db import AuditMixin, Base


class MemberLevel(AuditMixin, Base):
    """A level reached by growth (fen spent, net of refunds): its discount and how many points a yuan earns."""

    __tablename__ = "member_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    min_growth_fen: Mapped[int] = mapped_column(unique=True)
    discount_pct: Mapped[int] = mapped_column(Integer, default=0)  # percent off the goods, 0–30
    points_per_yuan: Mapped[int] = mapped_column(Integer, default=1)
    benefits: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)

    __table_args__ = (
        CheckConstraint("min_growth_fen >= 0", name="min_growth_fen"),
        CheckConstraint("discount_pct BETWEEN 0 AND 30", name="discount_pct"),
        CheckConstraint("points_per_yuan BETWEEN 0 AND 100", name="points_per_yuan"),
    )


class MemberCard(AuditMixin, Base):
    """One card per customer. Balances never go below zero (CHECKs back the conditional updates)."""

    __tablename__ = "member_cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_no: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"), unique=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("member_levels.id", ondelete="RESTRICT"))
    growth_fen: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    principal_fen: Mapped[int] = mapped_column(default=0)
    bonus_fen: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint("growth_fen >= 0", name="growth_fen"),
        CheckConstraint("points >= 0", name="points"),
        CheckConstraint("principal_fen >= 0", name="principal_fen"),
        CheckConstraint("bonus_fen >= 0", name="bonus_fen"),
        Index("ix_member_cards_level_id", "level_id"),
    )


class MemberHold(Base):
    """Stored value or points set aside for an order (ref = the order's ref) until captured or released."""

    __tablename__ = "member_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # stored_value | points
    ref: Mapped[str] = mapped_column(String(64))
    card_id: Mapped[int] = mapped_column(ForeignKey("member_cards.id", ondelete="RESTRICT"))
    fen: Mapped[int]  # stored value: principal + bonus; points: what the points deduct
    principal_fen: Mapped[int] = mapped_column(default=0)
    bonus_fen: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(16))  # held | captured | released
    returned_principal_fen: Mapped[int] = mapped_column(default=0)
    returned_bonus_fen: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("kind", "ref"),
        CheckConstraint("kind IN ('stored_value', 'points')", name="kind"),
        CheckConstraint("state IN ('held', 'captured', 'released')", name="state"),
        CheckConstraint(
            "fen > 0 AND principal_fen >= 0 AND bonus_fen >= 0 AND points >= 0 "
            "AND (kind = 'points' OR fen = principal_fen + bonus_fen)",
            name="amounts",
        ),
        CheckConstraint(
            "returned_principal_fen BETWEEN 0 AND principal_fen AND returned_bonus_fen BETWEEN 0 AND bonus_fen",
            name="returned",
        ),
        Index("ix_member_holds_card_id", "card_id"),
    )


class MemberCardEntry(Base):
    """The card statement: every change of stored value or points, once per ref, with the balances after."""

    __tablename__ = "member_card_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("member_cards.id", ondelete="RESTRICT"))
    ref: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    principal_delta_fen: Mapped[int] = mapped_column(default=0)
    bonus_delta_fen: Mapped[int] = mapped_column(default=0)
    points_delta: Mapped[int] = mapped_column(default=0)
    principal_after_fen: Mapped[int]
    bonus_after_fen: Mapped[int]
    points_after: Mapped[int]
    memo: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime]

    __table_args__ = (Index("ix_member_card_entries_card_id_id", "card_id", "id"),)


class MemberPointsAward(Base):
    """Points earned on one paid order, and how much of them refunds took back (in proportion)."""

    __tablename__ = "member_points_awards"

    order_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    card_id: Mapped[int] = mapped_column(ForeignKey("member_cards.id", ondelete="RESTRICT"))
    base_fen: Mapped[int]
    points: Mapped[int]
    refunded_fen: Mapped[int] = mapped_column(default=0)
    reversed_points: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("base_fen > 0 AND points >= 0", name="amounts"),
        CheckConstraint(
            "refunded_fen BETWEEN 0 AND base_fen AND reversed_points BETWEEN 0 AND points", name="reversed"
        ),
        Index("ix_member_points_awards_card_id", "card_id"),
    )


class TopUpPlan(AuditMixin, Base):
    """Pay `pay_fen`, get `pay_fen + bonus_fen` of stored value (e.g. pay 200 get 220)."""

    __tablename__ = "member_topup_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    pay_fen: Mapped[int] = mapped_column(unique=True)
    bonus_fen: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint("pay_fen BETWEEN 100 AND 1000000 AND bonus_fen >= 0 AND bonus_fen <= pay_fen", name="amounts"),
    )


class TopUp(AuditMixin, Base):
    """One top-up: created unpaid, paid through a payment intent (credited once), or cancelled at its deadline."""

    __tablename__ = "member_topups"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("member_cards.id", ondelete="RESTRICT"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("member_topup_plans.id", ondelete="SET NULL"))
    pay_fen: Mapped[int]
    bonus_fen: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16))  # created | paid | cancelled
    payment_ref: Mapped[str | None] = mapped_column(String(64))
    deadline_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('created', 'paid', 'cancelled')", name="status"),
        CheckConstraint("pay_fen > 0 AND bonus_fen >= 0", name="amounts"),
        Index("ix_member_topups_card_id", "card_id"),
    )


class MemberCodeToken(Base):
    """A dynamic member QR token: valid 60 s, used at most once (used_at set by a conditional update)."""

    __tablename__ = "member_code_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("member_cards.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None]  # the staff user who scanned it
    used_store_id: Mapped[int | None]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_member_code_tokens_card_id", "card_id"),)
