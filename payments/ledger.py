"""The double-entry ledger: accounts, balanced append-only postings (once per ref), and the consistency check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import structlog
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import BigInteger, String

from core import clock
from core.clock import SHANGHAI
from payments.payables import Line

log = structlog.get_logger(__name__)

# Accounts. Debit-normal: wechat_clearing (money WeChat holds for us), coupon_expense, fees, refunds:*,
# bank. Credit-normal: revenue, income, clearing liabilities, customer_stored_value, store_payable:*.
WECHAT_CLEARING = "wechat_clearing"
STORED_VALUE = "customer_stored_value"
HQ_CLEARING = "hq_clearing"  # urgent orders' money until a store claims them
HQ_COMMISSION = "hq_commission"
COUPON_EXPENSE = "coupon_expense"
MEMBER_BONUS_EXPENSE = "member_bonus_expense"  # stored-value top-up bonuses (pay 200 get 220): marketing
FEES = "fees"
UNALLOCATED = "unallocated_receipts"  # payments no payable could take (late, duplicate): refunded
BANK = "bank"


def store_revenue(store_id: int) -> str:
    return f"store_revenue:{store_id}"


def delivery_income(store_id: int) -> str:
    return f"delivery_income:{store_id}"


def store_refunds(store_id: int) -> str:
    return f"refunds:{store_id}"


def store_payable(store_id: int) -> str:
    return f"store_payable:{store_id}"


class UnbalancedPosting(ValueError):
    """Debits and credits of one posting differ: a programming error, never written."""


def business_date(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def check_balanced(lines: Sequence[Line]) -> None:
    debit = sum(line.debit_fen for line in lines)
    credit = sum(line.credit_fen for line in lines)
    if debit != credit or debit <= 0:
        raise UnbalancedPosting(f"debits {debit} fen != credits {credit} fen in {lines}")
    for line in lines:
        if line.debit_fen < 0 or line.credit_fen < 0 or (line.debit_fen > 0) == (line.credit_fen > 0):
            raise UnbalancedPosting(f"a line must have exactly one positive side: {line}")


def _net(lines: Sequence[Line]) -> list[Line]:
    """Drop zero lines (a fee of 0, no coupon) so every entry carries money."""
    return [line for line in lines if line.debit_fen or line.credit_fen]


_POST = text(
    """
    WITH tx AS (
        INSERT INTO ledger_transactions (ref, kind, business_date, occurred_at, order_id, intent_id, refund_id, memo)
        VALUES (:ref, :kind, :business_date, :occurred_at, :order_id, :intent_id, :refund_id, :memo)
        ON CONFLICT (ref) DO NOTHING
        RETURNING id
    )
    INSERT INTO ledger_entries (transaction_id, account, store_id, debit_fen, credit_fen)
    SELECT tx.id, e.account, e.store_id, e.debit_fen, e.credit_fen
    FROM tx, unnest(:accounts, :stores, :debits, :credits) AS e(account, store_id, debit_fen, credit_fen)
    RETURNING transaction_id
    """
).bindparams(
    bindparam("accounts", type_=ARRAY(String)),
    bindparam("stores", type_=ARRAY(BigInteger)),
    bindparam("debits", type_=ARRAY(BigInteger)),
    bindparam("credits", type_=ARRAY(BigInteger)),
)


async def post(
    session: AsyncSession,
    *,
    ref: str,
    kind: str,
    lines: Sequence[Line],
    occurred_at: datetime | None = None,
    order_id: int | None = None,
    intent_id: int | None = None,
    refund_id: int | None = None,
    memo: str = "",
) -> int | None:
    """Post a balanced transaction once per ref, in one statement; a repeat of the ref is a no-op (None)."""
    lines = _net(lines)
    check_balanced(lines)
    at = occurred_at or clock.now()
    row = await session.execute(
        _POST,
        {
            "ref": ref,
            "kind": kind,
            "business_date": business_date(at),
            "occurred_at": at,
            "order_id": order_id,
            "intent_id": intent_id,
            "refund_id": refund_id,
            "memo": memo[:200],
            "accounts": [line.account for line in lines],
            "stores": [line.store_id for line in lines],
            "debits": [line.debit_fen for line in lines],
            "credits": [line.credit_fen for line in lines],
        },
    )
    tx_id = row.scalars().first()
    if tx_id is not None:
        log.info("ledger_posted", ref=ref, kind=kind, fen=sum(line.debit_fen for line in lines))
    return tx_id


async def posted(session: AsyncSession, ref: str) -> bool:
    return bool(await session.scalar(text("SELECT 1 FROM ledger_transactions WHERE ref = :ref"), {"ref": ref}))


async def account_balance(session: AsyncSession, account: str) -> int:
    """Debits minus credits of one account (positive for debit-normal accounts)."""
    value = await session.scalar(
        text("SELECT coalesce(sum(debit_fen - credit_fen), 0) FROM ledger_entries WHERE account = :a"), {"a": account}
    )
    return int(value or 0)


# --- the check ----------------------------------------------------------------------------------


@dataclass
class LedgerReport:
    transactions: int = 0
    entries: int = 0
    debit_fen: int = 0
    credit_fen: int = 0
    unbalanced: list[dict[str, object]] = field(default_factory=list)
    accounts: list[dict[str, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unbalanced and not self.problems and self.debit_fen == self.credit_fen

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "transactions": self.transactions,
            "entries": self.entries,
            "debit_fen": self.debit_fen,
            "credit_fen": self.credit_fen,
            "unbalanced": self.unbalanced,
            "accounts": self.accounts,
            "problems": self.problems,
        }


async def check_ledger(session: AsyncSession) -> LedgerReport:
    """Σdebits = Σcredits per transaction and overall; per-account totals; postings match the payments."""
    report = LedgerReport()
    totals = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM ledger_transactions), count(*), "
                "coalesce(sum(debit_fen), 0), coalesce(sum(credit_fen), 0) FROM ledger_entries"
            )
        )
    ).one()
    report.transactions, report.entries, report.debit_fen, report.credit_fen = (int(v) for v in totals)
    rows = await session.execute(
        text(
            """
            SELECT t.id, t.ref, coalesce(sum(e.debit_fen), 0) AS d, coalesce(sum(e.credit_fen), 0) AS c,
                   count(e.id) AS n
            FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
            GROUP BY t.id, t.ref
            HAVING coalesce(sum(e.debit_fen), 0) <> coalesce(sum(e.credit_fen), 0) OR count(e.id) < 2
            ORDER BY t.id LIMIT 100
            """
        )
    )
    report.unbalanced = [{"id": r.id, "ref": r.ref, "debit_fen": int(r.d), "credit_fen": int(r.c)} for r in rows]
    rows = await session.execute(
        text(
            "SELECT account, sum(debit_fen) AS d, sum(credit_fen) AS c, count(*) AS n "
            "FROM ledger_entries GROUP BY account ORDER BY account"
        )
    )
    report.accounts = [
        {"account": r.account, "debit_fen": int(r.d), "credit_fen": int(r.c), "balance_fen": int(r.d - r.c)}
        for r in rows
    ]
    # Every paid intent has exactly its payment posting, every settled refund its refund posting.
    missing = await session.execute(
        text(
            """
            SELECT 'no ledger posting for payment ' || i.out_trade_no AS what FROM payment_intents i
            WHERE i.status = 'paid' AND NOT EXISTS (
                SELECT 1 FROM ledger_transactions t WHERE t.ref = 'payment:' || i.id)
            UNION ALL
            SELECT 'no ledger posting for refund ' || r.out_refund_no FROM payment_refunds r
            WHERE r.status = 'success' AND r.wechat_fen > 0 AND NOT EXISTS (
                SELECT 1 FROM ledger_transactions t WHERE t.ref = 'refund:' || r.id)
            UNION ALL
            SELECT 'no ledger posting for the stored value of refund ' || r.out_refund_no FROM payment_refunds r
            WHERE r.stored_value_fen > 0 AND r.status IN ('pending', 'processing', 'success') AND NOT EXISTS (
                SELECT 1 FROM ledger_transactions t WHERE t.ref = 'refund_sv:' || r.id)
            UNION ALL
            SELECT 'payment posting without a paid intent: ' || t.ref FROM ledger_transactions t
            WHERE t.kind IN ('payment', 'unallocated_payment') AND NOT EXISTS (
                SELECT 1 FROM payment_intents i WHERE i.id = t.intent_id AND i.status = 'paid')
            LIMIT 100
            """
        )
    )
    report.problems = [r.what for r in missing]
    wechat = await session.execute(
        text(
            """
            SELECT
              (SELECT coalesce(sum(paid_fen), 0) FROM payment_intents WHERE status = 'paid') AS paid,
              (SELECT coalesce(sum(wechat_fen), 0) FROM payment_refunds WHERE status = 'success') AS refunded,
              (SELECT coalesce(sum(e.debit_fen - e.credit_fen), 0) FROM ledger_entries e
               JOIN ledger_transactions t ON t.id = e.transaction_id
               WHERE e.account = 'wechat_clearing' AND t.kind IN ('payment', 'unallocated_payment', 'refund')) AS held
            """
        )
    )
    w = wechat.one()
    if int(w.paid) - int(w.refunded) != int(w.held):
        report.problems.append(
            f"wechat_clearing from payments and refunds is {int(w.held)} fen, but paid − refunded is "
            f"{int(w.paid) - int(w.refunded)} fen"
        )
    return report
