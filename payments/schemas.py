"""Payments API shapes (msgspec): starting a payment, its status, and the finance console's data."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from payments.start_payment import PaymentStart


class StartPaymentIn(msgspec.Struct):
    order_id: str  # the order's public id (as in the order URLs)
    channel: str = "JSAPI"  # JSAPI inside WeChat, NATIVE for a QR code on a PC


class PaymentStartOut(msgspec.Struct):
    out_trade_no: str
    channel: str
    amount_fen: int
    expires_at: datetime
    status: str
    reused: bool
    jsapi_params: dict[str, str] | None = None
    code_url: str | None = None
    qr_png_url: str | None = None

    @classmethod
    def of(cls, started: PaymentStart) -> PaymentStartOut:
        """From payments.start_payment.PaymentStart; the QR image URL only for a Native (code_url) payment."""
        return cls(
            out_trade_no=started.out_trade_no,
            channel=started.channel,
            amount_fen=started.amount_fen,
            expires_at=started.expires_at,
            status=started.status,
            reused=started.reused,
            jsapi_params=started.jsapi_params,
            code_url=started.code_url,
            qr_png_url=f"/api/payments/{started.out_trade_no}/qr.png" if started.code_url else None,
        )


class PaymentStatusOut(msgspec.Struct):
    out_trade_no: str
    channel: str
    amount_fen: int
    status: str
    paid_at: datetime | None
    expires_at: datetime


class DaySummaryOut(msgspec.Struct):
    day: date
    payments: int
    gmv_fen: int
    paid_fen: int
    refunded_fen: int
    fees_fen: int
    net_fen: int
    reconciliation: str
    open_mismatches: int


class SummaryOut(msgspec.Struct):
    days: list[DaySummaryOut]
    totals: dict[str, int]


class ReconRunOut(msgspec.Struct):
    id: int
    bill_date: date
    source: str
    status: str
    triggered_by: str
    bill_rows: int
    bill_paid_fen: int
    bill_refund_fen: int
    bill_fee_fen: int
    local_paid_fen: int
    local_refund_fen: int
    mismatches: int
    error: str | None
    seconds: float | None
    started_at: datetime
    finished_at: datetime | None


class MismatchOut(msgspec.Struct):
    id: int
    bill_date: date
    kind: str
    key: str
    status: str
    bill_amount_fen: int | None
    local_amount_fen: int | None
    bill_status: str | None
    local_status: str | None
    detail: str
    note: str | None
    resolved_by: str | None
    resolved_at: datetime | None


class ResolveIn(msgspec.Struct):
    note: str


class RunReconcileIn(msgspec.Struct):
    day: date


class RefundOut(msgspec.Struct):
    id: int
    ref: str
    out_refund_no: str
    kind: str
    payable_kind: str
    payable_id: int
    amount_fen: int
    wechat_fen: int
    stored_value_fen: int
    status: str
    reason: str
    attempts: int
    last_error: str | None
    created_at: datetime
    succeeded_at: datetime | None


class StatementIn(msgspec.Struct):
    store_id: int
    period_start: date
    period_end: date


class PayoutIn(msgspec.Struct):
    payout_ref: str


class StatementOut(msgspec.Struct):
    id: int
    store_id: int
    period_start: date
    period_end: date
    status: str
    sales_fen: int
    delivery_income_fen: int
    refunds_fen: int
    coupon_cost_fen: int
    commission_bp: int
    commission_fen: int
    net_payable_fen: int
    confirmed_by: str | None
    confirmed_at: datetime | None
    paid_by: str | None
    paid_at: datetime | None
    payout_ref: str | None


class TermsIn(msgspec.Struct):
    commission_bp: int


class TermsOut(msgspec.Struct):
    store_id: int
    commission_bp: int


class LedgerCheckOut(msgspec.Struct):
    ok: bool
    transactions: int
    entries: int
    debit_fen: int
    credit_fen: int
    unbalanced: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    problems: list[str]
