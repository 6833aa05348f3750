"""Settlement between HQ and the stores: statements per store and period, derived from the ledger.

Sales and delivery income are what the ledger credited to the store (urgent orders: the claiming
store), refunds what it debited back, the coupon cost is HQ's (shown, not deducted), and HQ keeps a
commission on net sales at the store's rate. A statement goes draft → confirmed (its numbers are
posted as a reclassification into store_payable) → paid (the payout is posted against the bank).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import structlog
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import Conflict, InvalidInput, NotFound
from payments import ledger
from payments.models import SettlementStatement, SettlementTerms
from payments.payables import Line
from shop.services import get_store

log = structlog.get_logger(__name__)

DEFAULT_COMMISSION_BP = 500  # 5 % for partner stores unless finance sets another rate
STATEMENT_KINDS = ("settlement", "payout")

_AMOUNTS = text(
    """
    SELECT
      coalesce(sum(e.credit_fen - e.debit_fen) FILTER (WHERE e.account = 'store_revenue:' || :s), 0) AS sales,
      coalesce(sum(e.credit_fen - e.debit_fen) FILTER (WHERE e.account = 'delivery_income:' || :s), 0) AS delivery,
      coalesce(sum(e.debit_fen - e.credit_fen) FILTER (WHERE e.account = 'refunds:' || :s), 0) AS refunds,
      coalesce(sum(e.debit_fen - e.credit_fen) FILTER (WHERE e.account = 'coupon_expense'), 0) AS coupons
    FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
    WHERE e.store_id = :store_id AND t.business_date BETWEEN :start AND :end
      AND t.kind NOT IN ('settlement', 'payout')
    """
)


@dataclass(frozen=True)
class Amounts:
    sales_fen: int
    delivery_income_fen: int
    refunds_fen: int
    coupon_cost_fen: int
    commission_bp: int
    commission_fen: int
    net_payable_fen: int


def commission(net_sales_fen: int, bp: int) -> int:
    """Round half up to the fen; no commission on a period with more refunds than sales."""
    return max(0, (net_sales_fen * bp + 5000) // 10000)


async def commission_bp(session: AsyncSession, store_id: int) -> int:
    terms = await session.get(SettlementTerms, store_id)
    if terms is not None:
        return terms.commission_bp
    store = await get_store(session, store_id)
    return 0 if store.is_hq else DEFAULT_COMMISSION_BP


async def set_terms(session: AsyncSession, store_id: int, bp: int, actor: str) -> int:
    if isinstance(bp, bool) or not isinstance(bp, int) or not 0 <= bp <= 10000:
        raise InvalidInput("commission_bp must be a whole number of basis points from 0 to 10000 (500 = 5 %)")
    await get_store(session, store_id)
    await session.execute(
        insert(SettlementTerms)
        .values(store_id=store_id, commission_bp=bp, updated_by=actor[:64], updated_at=clock.now())
        .on_conflict_do_update(
            index_elements=["store_id"], set_={"commission_bp": bp, "updated_by": actor[:64], "updated_at": clock.now()}
        )
    )
    log.info("settlement_terms_set", store_id=store_id, commission_bp=bp, actor=actor)
    return bp


async def compute(session: AsyncSession, store_id: int, start: date, end: date) -> Amounts:
    row = (
        await session.execute(_AMOUNTS, {"s": str(store_id), "store_id": store_id, "start": start, "end": end})
    ).one()
    bp = await commission_bp(session, store_id)
    sales, delivery, refunds, coupons = (int(v) for v in row)
    fee = commission(sales - refunds, bp)
    return Amounts(sales, delivery, refunds, coupons, bp, fee, sales + delivery - refunds - fee)


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput("period_end must not be before period_start")
    if (end - start).days > 366:
        raise InvalidInput("a statement covers at most a year")
    if end >= clock.now_shanghai().date():
        raise InvalidInput("a statement covers finished days only (period_end before today)")


async def generate_statement(
    session: AsyncSession, store_id: int, start: date, end: date, actor: str
) -> SettlementStatement:
    """A draft for the store and period (recomputed when a draft exists; a confirmed one is final)."""
    _check_period(start, end)
    await get_store(session, store_id)
    overlap = await session.scalar(
        select(SettlementStatement.id).where(
            SettlementStatement.store_id == store_id,
            SettlementStatement.status != "draft",
            SettlementStatement.period_start <= end,
            SettlementStatement.period_end >= start,
        )
    )
    if overlap is not None:
        raise Conflict(f"statement {overlap} of store {store_id} already covers part of {start}–{end}")
    amounts = await compute(session, store_id, start, end)
    now = clock.now()
    values = {**amounts.__dict__, "updated_at": now}
    statement_id = await session.scalar(
        insert(SettlementStatement)
        .values(store_id=store_id, period_start=start, period_end=end, status="draft", created_at=now, **values)
        .on_conflict_do_update(
            index_elements=["store_id", "period_start", "period_end"],
            set_=values,
            where=SettlementStatement.status == "draft",
        )
        .returning(SettlementStatement.id)
    )
    if statement_id is None:
        raise Conflict(f"the statement of store {store_id} for {start}–{end} is already confirmed")
    log.info(
        "settlement_drafted", statement_id=statement_id, store_id=store_id, net_fen=amounts.net_payable_fen, actor=actor
    )
    return await _get(session, int(statement_id))


async def _get(session: AsyncSession, statement_id: int, *, lock: bool = False) -> SettlementStatement:
    query = select(SettlementStatement).where(SettlementStatement.id == statement_id)
    if lock:
        query = query.with_for_update()
    statement = await session.scalar(query.execution_options(populate_existing=True))
    if statement is None:
        raise NotFound(f"settlement statement {statement_id} does not exist")
    return statement


def _signed(account: str, debit_fen: int, store_id: int | None = None) -> Line:
    """A debit of `debit_fen` (a credit when negative)."""
    if debit_fen >= 0:
        return Line(account, debit_fen=debit_fen, store_id=store_id)
    return Line(account, credit_fen=-debit_fen, store_id=store_id)


async def confirm_statement(session: AsyncSession, statement_id: int, actor: str) -> SettlementStatement:
    st = await _get(session, statement_id, lock=True)
    if st.status != "draft":
        raise Conflict(f"statement {statement_id} is {st.status}; only a draft can be confirmed")
    amounts = await compute(session, st.store_id, st.period_start, st.period_end)
    s = st.store_id
    now = clock.now()
    for key, value in amounts.__dict__.items():
        setattr(st, key, value)
    st.status, st.confirmed_by, st.confirmed_at, st.updated_at = "confirmed", actor[:64], now, now
    lines = [
        _signed(ledger.store_revenue(s), amounts.sales_fen, s),
        _signed(ledger.delivery_income(s), amounts.delivery_income_fen, s),
        _signed(ledger.store_refunds(s), -amounts.refunds_fen, s),
        _signed(ledger.HQ_COMMISSION, -amounts.commission_fen),
        _signed(ledger.store_payable(s), -amounts.net_payable_fen, s),
    ]
    if any(line.debit_fen or line.credit_fen for line in lines):
        await ledger.post(
            session,
            ref=f"settlement:{st.id}",
            kind="settlement",
            lines=lines,
            memo=f"store {s} {st.period_start}–{st.period_end}",
        )
    await session.flush()
    log.info("settlement_confirmed", statement_id=st.id, store_id=s, net_fen=amounts.net_payable_fen, actor=actor)
    return st


async def pay_statement(session: AsyncSession, statement_id: int, payout_ref: str, actor: str) -> SettlementStatement:
    if not payout_ref.strip() or len(payout_ref) > 64:
        raise InvalidInput("payout_ref (the bank transfer's reference) must be 1–64 characters")
    st = await _get(session, statement_id, lock=True)
    if st.status != "confirmed":
        raise Conflict(f"statement {statement_id} is {st.status}; only a confirmed statement can be paid")
    now = clock.now()
    st.status, st.paid_by, st.paid_at, st.payout_ref, st.updated_at = "paid", actor[:64], now, payout_ref.strip(), now
    if st.net_payable_fen:
        await ledger.post(
            session,
            ref=f"payout:{st.id}",
            kind="payout",
            lines=[
                _signed(ledger.store_payable(st.store_id), st.net_payable_fen, st.store_id),
                _signed(ledger.BANK, -st.net_payable_fen),
            ],
            memo=f"payout {payout_ref.strip()} to store {st.store_id}",
        )
    await session.flush()
    log.info("settlement_paid", statement_id=st.id, store_id=st.store_id, payout_ref=payout_ref, actor=actor)
    return st
