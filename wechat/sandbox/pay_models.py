"""Sandbox Pay tables (schema `sandbox`): orders, refunds, notifies and their attempts, fault knobs, bill files."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base

SCHEMA = "sandbox"


class PayOrder(Base):
    """A merchant order as WeChat holds it (JSAPI or Native), with its trade state."""

    __tablename__ = "pay_orders"
    __table_args__ = (
        UniqueConstraint("mchid", "out_trade_no"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    mchid: Mapped[str] = mapped_column(String(32))
    appid: Mapped[str] = mapped_column(String(32))
    out_trade_no: Mapped[str] = mapped_column(String(32))
    trade_type: Mapped[str] = mapped_column(String(16))
    prepay_id: Mapped[str] = mapped_column(String(64), unique=True)
    code_url: Mapped[str | None] = mapped_column(String(128), unique=True)
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(String(127))
    attach: Mapped[str | None] = mapped_column(String(128))
    notify_url: Mapped[str] = mapped_column(Text)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8), default="CNY")
    payer_openid: Mapped[str | None] = mapped_column(String(128))
    trade_state: Mapped[str] = mapped_column(String(16), default="NOTPAY")
    trade_state_desc: Mapped[str] = mapped_column(String(64), default="订单未支付")
    bank_type: Mapped[str | None] = mapped_column(String(32))
    time_expire: Mapped[datetime | None]
    success_time: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    request: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class PayRefund(Base):
    """A refund: PROCESSING until `settle_at`, then its `outcome` (SUCCESS, or a fault's CLOSED/ABNORMAL)."""

    __tablename__ = "pay_refunds"
    __table_args__ = (
        UniqueConstraint("mchid", "out_refund_no"),
        Index("ix_pay_refunds_settle_at", "settle_at", postgresql_where=text("status = 'PROCESSING'")),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    mchid: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[int] = mapped_column(ForeignKey(f"{SCHEMA}.pay_orders.id", ondelete="CASCADE"), index=True)
    out_refund_no: Mapped[str] = mapped_column(String(64))
    refund_id: Mapped[str] = mapped_column(String(32), unique=True)
    out_trade_no: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[str] = mapped_column(String(32))
    refund_fen: Mapped[int] = mapped_column(BigInteger)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8), default="CNY")
    reason: Mapped[str | None] = mapped_column(String(80))
    notify_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="PROCESSING")
    outcome: Mapped[str] = mapped_column(String(16), default="SUCCESS")
    settle_at: Mapped[datetime | None]
    success_time: Mapped[datetime | None]
    user_received_account: Mapped[str] = mapped_column(String(64), default="支付用户零钱")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class PayNotify(Base):
    """One notification to a merchant: the exact envelope, its delivery state and the faults it carries."""

    __tablename__ = "pay_notifies"
    __table_args__ = (
        Index("ix_pay_notifies_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    notify_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    out_trade_no: Mapped[str] = mapped_column(String(32), index=True)
    out_refund_no: Mapped[str | None] = mapped_column(String(64))
    notify_url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    resource_plain: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # pending → delivered | failed (schedule exhausted) | dropped (a drop fault); held = waiting for a reorder batch
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    faults: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    copies_left: Mapped[int] = mapped_column(Integer, default=0)
    hold_group: Mapped[str | None] = mapped_column(String(32))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    delivered_at: Mapped[datetime | None]


class PayNotifyAttempt(Base):
    """What the sandbox sent and what the merchant answered, per attempt (the sandbox's log)."""

    __tablename__ = "pay_notify_attempts"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    notify_pk: Mapped[int] = mapped_column(ForeignKey(f"{SCHEMA}.pay_notifies.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    fault: Mapped[str | None] = mapped_column(String(32))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=clock.now)


class PayFault(Base):
    """A fault knob: applies to the next `remaining` matching notifies (or API responses)."""

    __tablename__ = "pay_faults"
    __table_args__ = {"schema": SCHEMA}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16), default="notify")
    remaining: Mapped[int] = mapped_column(Integer, default=1)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    out_trade_no: Mapped[str | None] = mapped_column(String(32))
    event_type: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PayConfig(Base):
    """Sandbox knobs that are not faults (retry time factor, refund delay), shared by every process."""

    __tablename__ = "pay_config"
    __table_args__ = {"schema": SCHEMA}

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB, nullable=True)


class PayBillFile(Base):
    """A bill file behind a download token: the bytes are fixed when the hash is announced."""

    __tablename__ = "pay_bill_files"
    __table_args__ = {"schema": SCHEMA}

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    mchid: Mapped[str] = mapped_column(String(32))
    bill_date: Mapped[date] = mapped_column(Date)
    bill_type: Mapped[str] = mapped_column(String(16))
    tar_type: Mapped[str | None] = mapped_column(String(8))
    hash_value: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
