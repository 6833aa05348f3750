"""Finance figures: the daily summary (GMV, paid, refunded, fees, net), reconciliation status, lists for exports."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput
from payments.models import PaymentIntent, ReconMismatch, ReconRun, Refund, SettlementStatement
from payments.reconcile_day import day_bounds

MAX_DAYS = 366

_SUMMARY = text(
    """
    WITH days AS (SELECT d::date AS day FROM generate_series(CAST(:first AS date), CAST(:last AS date),
                                                            interval '1 day') d),
    pay AS (
        SELECT (paid_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS n, sum(paid_fen) AS paid
        FROM payment_intents WHERE status = 'paid' AND paid_at >= :start AND paid_at < :end GROUP BY 1),
    sale AS (
        SELECT t.business_date AS day, sum(e.debit_fen) AS gmv
        FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
        WHERE t.kind IN ('payment', 'stored_value_sale') AND t.business_date BETWEEN :first AND :last
          AND e.account IN ('wechat_clearing', 'customer_stored_value')
        GROUP BY 1),
    ref AS (
        SELECT (succeeded_at AT TIME ZONE 'Asia/Shanghai')::date AS day, sum(amount_fen) AS refunded,
               sum(wechat_fen) AS wechat_refunded
        FROM payment_refunds WHERE status = 'success' AND succeeded_at >= :start AND succeeded_at < :end GROUP BY 1),
    fee AS (
        SELECT t.business_date AS day, sum(e.debit_fen - e.credit_fen) AS fees
        FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
        WHERE t.kind = 'fees' AND e.account = 'fees' AND t.business_date BETWEEN :first AND :last GROUP BY 1),
    run AS (
        SELECT DISTINCT ON (bill_date) bill_date AS day, status FROM recon_runs
        WHERE bill_date BETWEEN :first AND :last ORDER BY bill_date, id DESC),
    mm AS (
        SELECT bill_date AS day, count(*) AS open FROM recon_mismatches
        WHERE status = 'open' AND bill_date BETWEEN :first AND :last GROUP BY 1)
    SELECT days.day, coalesce(pay.n, 0) AS payments, coalesce(sale.gmv, 0) AS gmv_fen,
           coalesce(pay.paid, 0) AS paid_fen, coalesce(ref.refunded, 0) AS refunded_fen,
           coalesce(ref.wechat_refunded, 0) AS wechat_refunded_fen, coalesce(fee.fees, 0) AS fees_fen,
           coalesce(run.status, 'not_run') AS reconciliation, coalesce(mm.open, 0) AS open_mismatches
    FROM days LEFT JOIN pay USING (day) LEFT JOIN sale USING (day) LEFT JOIN ref USING (day)
              LEFT JOIN fee USING (day) LEFT JOIN run USING (day) LEFT JOIN mm USING (day)
    ORDER BY days.day
    """
)


def check_range(first: date, last: date) -> None:
    if last < first:
        raise InvalidInput("the end date must not be before the start date")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"ask for at most {MAX_DAYS} days at a time")


async def daily_summary(session: AsyncSession, first: date, last: date) -> list[dict[str, Any]]:
    """One row per Shanghai business day; net = WeChat receipts − WeChat refunds − fees."""
    check_range(first, last)
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    rows = await session.execute(_SUMMARY, {"first": first, "last": last, "start": start, "end": end})
    out = []
    for r in rows:
        out.append(
            {
                "day": r.day,
                "payments": int(r.payments),
                "gmv_fen": int(r.gmv_fen),
                "paid_fen": int(r.paid_fen),
                "refunded_fen": int(r.refunded_fen),
                "fees_fen": int(r.fees_fen),
                "net_fen": int(r.paid_fen) - int(r.wechat_refunded_fen) - int(r.fees_fen),
                "reconciliation": r.reconciliation,
                "open_mismatches": int(r.open_mismatches),
            }
        )
    return out


def totals(days: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("payments", "gmv_fen", "paid_fen", "refunded_fen", "fees_fen", "net_fen", "open_mismatches")
    return {k: sum(int(d[k]) for d in days) for k in keys}


async def recon_runs(session: AsyncSession, first: date, last: date) -> list[ReconRun]:
    check_range(first, last)
    rows = await session.scalars(
        select(ReconRun)
        .where(ReconRun.bill_date.between(first, last))
        .order_by(ReconRun.bill_date.desc(), ReconRun.id.desc())
        .limit(1000)
    )
    return list(rows)


async def mismatches(
    session: AsyncSession,
    *,
    day: date | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[ReconMismatch]:
    query = select(ReconMismatch).order_by(ReconMismatch.bill_date.desc(), ReconMismatch.id)
    if day is not None:
        query = query.where(ReconMismatch.bill_date == day)
    if status:
        query = query.where(ReconMismatch.status == status)
    if kind:
        query = query.where(ReconMismatch.kind == kind)
    return list(await session.scalars(query.limit(max(1, min(limit, 5000))).offset(max(0, offset))))


async def refunds(session: AsyncSession, *, status: str | None = None, limit: int = 200) -> list[Refund]:
    query = select(Refund).order_by(Refund.id.desc()).limit(max(1, min(limit, 5000)))
    if status:
        query = query.where(Refund.status == status)
    return list(await session.scalars(query))


async def payments_between(session: AsyncSession, first: date, last: date, limit: int = 100_000) -> list[PaymentIntent]:
    check_range(first, last)
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    return list(
        await session.scalars(
            select(PaymentIntent)
            .where(PaymentIntent.status == "paid", PaymentIntent.paid_at >= start, PaymentIntent.paid_at < end)
            .order_by(PaymentIntent.paid_at)
            .limit(limit)
        )
    )


async def statements(
    session: AsyncSession, *, store_id: int | None = None, status: str | None = None
) -> list[SettlementStatement]:
    query = select(SettlementStatement).order_by(SettlementStatement.period_start.desc(), SettlementStatement.id)
    if store_id is not None:
        query = query.where(SettlementStatement.store_id == store_id)
    if status:
        query = query.where(SettlementStatement.status == status)
    return list(await session.scalars(query.limit(1000)))


def default_range(days: int = 30) -> tuple[date, date]:
    from core import clock

    today = clock.now_shanghai().date()
    return today - timedelta(days=days - 1), today
