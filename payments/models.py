"""Payments tables: intents, their events, every notify received, refunds, the ledger, reconciliation, settlement."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import AuditMixin, Base

INTENT_STATUSES = ("pending", "paid", "closed", "failed")
CREDIT_OUTCOMES = ("credited", "late", "duplicate")
REFUND_STATUSES = ("pending", "processing", "success", "closed", "abnormal", "failed")
REFUND_KINDS = ("order", "late_payment", "duplicate_payment")
MISMATCH_KINDS = (
    "missing_locally",
    "missing_in_bill",
    "amount_differs",
    "status_differs",
    "refund_differs",
    "fee_totals",
)
MISMATCH_STATUSES = ("open", "resolved", "cleared")
RUN_STATUSES = ("running", "done", "refused", "failed")
STATEMENT_STATUSES = ("draft", "confirmed", "paid")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class PaymentIntent(AuditMixin, Base):
    """One attempt to collect a payable's cash part through WeChat Pay (one out_trade_no)."""

    __tablename__ = "payment_intents"

    id: Mapped[int] = mapped_column(primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    payable_kind: Mapped[str] = mapped_column(String(16))  # "order", later "topup"
    payable_id: Mapped[int]
    channel: Mapped[str] = mapped_column(String(8))  # JSAPI | NATIVE
    amount_fen: Mapped[int]
    description: Mapped[str] = mapped_column(String(127))
    appid: Mapped[str] = mapped_column(String(32))
    mchid: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str | None] = mapped_column(String(128))
    store_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    prepay_id: Mapped[str | None] = mapped_column(String(64))
    prepay_expires_at: Mapped[datetime | None]
    code_url: Mapped[str | None] = mapped_column(String(128))
    time_expire: Mapped[datetime]
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    paid_fen: Mapped[int | None]
    paid_at: Mapped[datetime | None]
    paid_via: Mapped[str | None] = mapped_column(String(8))  # notify | query
    credit_outcome: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None]
    checks: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        CheckConstraint(_in("status", INTENT_STATUSES), name="status"),
        CheckConstraint("channel IN ('JSAPI', 'NATIVE')", name="channel"),
        CheckConstraint("amount_fen > 0", name="amount_fen"),
        CheckConstraint(
            "(status = 'paid') = (transaction_id IS NOT NULL AND paid_fen IS NOT NULL AND paid_at IS NOT NULL)",
            name="paid",
        ),
        CheckConstraint(f"credit_outcome IS NULL OR {_in('credit_outcome', CREDIT_OUTCOMES)}", name="credit_outcome"),
        Index("ix_payment_intents_payable_kind_payable_id", "payable_kind", "payable_id"),
        Index("ix_payment_intents_paid_at", "paid_at", postgresql_where=text("paid_at IS NOT NULL")),
        Index("ix_payment_intents_pending", "created_at", postgresql_where=text("status = 'pending'")),
    )


class PaymentEvent(Base):
    """Every status change of an intent or a refund: who, when, from, to, why."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    intent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_intents.id", ondelete="CASCADE"))
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("payment_refunds.id", ondelete="CASCADE"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        CheckConstraint("(intent_id IS NULL) <> (refund_id IS NULL)", name="subject"),
        Index("ix_payment_events_intent_id", "intent_id"),
        Index("ix_payment_events_refund_id", "refund_id"),
    )


class PaymentNotify(Base):
    """Every request that reached the notify endpoint, verified or not, with what we answered (audit)."""

    __tablename__ = "payment_notifies"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    notify_id: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(String(40))
    serial: Mapped[str | None] = mapped_column(String(80))
    signed_at: Mapped[str | None] = mapped_column(String(20))
    nonce: Mapped[str | None] = mapped_column(String(64))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(24))
    error: Mapped[str | None] = mapped_column(String(500))
    http_status: Mapped[int] = mapped_column(Integer)
    out_trade_no: Mapped[str | None] = mapped_column(String(32))
    transaction_id: Mapped[str | None] = mapped_column(String(32))
    out_refund_no: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    resource: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_payment_notifies_received_at", "received_at"),
        Index("ix_payment_notifies_out_trade_no", "out_trade_no"),
    )


class Refund(AuditMixin, Base):
    """Money going back: one request (unique ref → unique out_refund_no), split WeChat / stored value."""

    __tablename__ = "payment_refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(100), unique=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(24), default="order")
    payable_kind: Mapped[str] = mapped_column(String(16))
    payable_id: Mapped[int]
    intent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_intents.id", ondelete="RESTRICT"))
    store_id: Mapped[int | None]
    amount_fen: Mapped[int]
    wechat_fen: Mapped[int]
    stored_value_fen: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    wechat_refund_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(String(64), default="system")
    succeeded_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", REFUND_STATUSES), name="status"),
        CheckConstraint(_in("kind", REFUND_KINDS), name="kind"),
        CheckConstraint("amount_fen > 0 AND wechat_fen >= 0 AND stored_value_fen >= 0", name="amounts"),
        CheckConstraint("amount_fen = wechat_fen + stored_value_fen", name="split"),
        CheckConstraint("wechat_fen = 0 OR intent_id IS NOT NULL", name="intent"),
        Index("ix_payment_refunds_intent_id", "intent_id"),
        Index("ix_payment_refunds_payable_kind_payable_id", "payable_kind", "payable_id"),
        Index("ix_payment_refunds_succeeded_at", "succeeded_at", postgresql_where=text("succeeded_at IS NOT NULL")),
        Index(
            "ix_payment_refunds_open",
            "status",
            postgresql_where=text("status IN ('pending', 'processing', 'abnormal', 'failed')"),
        ),
    )


class LedgerTransaction(Base):
    """One money event, posted once (unique ref), with balanced entries; never updated or deleted."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[date] = mapped_column(Date)  # Asia/Shanghai
    occurred_at: Mapped[datetime]
    order_id: Mapped[int | None]
    intent_id: Mapped[int | None]
    refund_id: Mapped[int | None]
    memo: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (
        Index("ix_ledger_transactions_business_date", "business_date"),
        Index("ix_ledger_transactions_order_id", "order_id"),
    )


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id", ondelete="RESTRICT"))
    account: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[int | None]
    debit_fen: Mapped[int] = mapped_column(default=0)
    credit_fen: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        CheckConstraint(
            "debit_fen >= 0 AND credit_fen >= 0 AND (debit_fen = 0) <> (credit_fen = 0)",
            name="one_side",
        ),
        Index("ix_ledger_entries_transaction_id", "transaction_id"),
        Index("ix_ledger_entries_account", "account"),
        Index("ix_ledger_entries_store_id", "store_id", postgresql_where=text("store_id IS NOT NULL")),
    )


class ReconRun(Base):
    """One reconciliation of one business day against one bill file."""

    __tablename__ = "recon_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))  # api | file
    status: Mapped[str] = mapped_column(String(16), default="running")
    triggered_by: Mapped[str] = mapped_column(String(64), default="system")
    bill_sha1: Mapped[str | None] = mapped_column(String(40))
    bill_rows: Mapped[int] = mapped_column(default=0)
    payment_rows: Mapped[int] = mapped_column(default=0)
    refund_rows: Mapped[int] = mapped_column(default=0)
    bill_paid_fen: Mapped[int] = mapped_column(default=0)
    bill_refund_fen: Mapped[int] = mapped_column(default=0)
    bill_fee_fen: Mapped[int] = mapped_column(default=0)
    local_paid_fen: Mapped[int] = mapped_column(default=0)
    local_refund_fen: Mapped[int] = mapped_column(default=0)
    mismatches: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float | None]
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        Index("ix_recon_runs_bill_date_id", "bill_date", "id"),
    )


class ReconMismatch(AuditMixin, Base):
    """A difference between the bill, our payments/refunds and the orders; finance resolves it with a note."""

    __tablename__ = "recon_mismatches"

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(64))  # out_trade_no, out_refund_no or "fees"
    status: Mapped[str] = mapped_column(String(16), default="open")
    bill_amount_fen: Mapped[int | None]
    local_amount_fen: Mapped[int | None]
    bill_status: Mapped[str | None] = mapped_column(String(24))
    local_status: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(String(300), default="")
    first_run_id: Mapped[int] = mapped_column(BigInteger)
    last_run_id: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("bill_date", "kind", "key"),
        CheckConstraint(_in("kind", MISMATCH_KINDS), name="kind"),
        CheckConstraint(_in("status", MISMATCH_STATUSES), name="status"),
        Index("ix_recon_mismatches_status_bill_date", "status", "bill_date"),
    )


class SettlementTerms(Base):
    """Per-store commission HQ keeps on the store's net sales (basis points)."""

    __tablename__ = "settlement_terms"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True)
    commission_bp: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    __table_args__ = (CheckConstraint("commission_bp BETWEEN 0 AND 10000", name="commission_bp"),)


class SettlementStatement(AuditMixin, Base):
    """What HQ owes a store for a period, derived from the ledger: draft → confirmed → paid."""

    __tablename__ = "settlement_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="RESTRICT"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    status: Mapped[str] = mapped_column(String(16), default="draft")
    sales_fen: Mapped[int] = mapped_column(default=0)
    delivery_income_fen: Mapped[int] = mapped_column(default=0)
    refunds_fen: Mapped[int] = mapped_column(default=0)
    coupon_cost_fen: Mapped[int] = mapped_column(default=0)
    commission_bp: Mapped[int] = mapped_column(Integer, default=0)
    commission_fen: Mapped[int] = mapped_column(default=0)
    net_payable_fen: Mapped[int] = mapped_column(default=0)
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    confirmed_at: Mapped[datetime | None]
    paid_by: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None]
    payout_ref: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("store_id", "period_start", "period_end"),
        CheckConstraint(_in("status", STATEMENT_STATUSES), name="status"),
        CheckConstraint("period_end >= period_start", name="period"),
    )
