"""What payments needs to know about the things it collects money for (orders, later top-ups), behind one interface.

A payable kind registers a `PayableSource`: how to read it, how to tell it that it was paid, how to
cancel it when its payment deadline passed, and on which ledger accounts its money lands. Orders are
registered by `payments.order_payables` at start-up; the member issue registers stored-value top-ups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound

# What the payable answered to "you were paid": paid now, paid before by this same payment (a
# repeat), or it can no longer take this money (cancelled, or paid by another payment).
MarkPaidResult = Literal["paid", "repeat", "cancelled", "paid_otherwise"]
PayableState = Literal["unpaid", "paid", "cancelled"]


@dataclass(frozen=True)
class Line:
    """One ledger line: a debit (debit_fen > 0) or a credit (credit_fen > 0) on an account."""

    account: str
    debit_fen: int = 0
    credit_fen: int = 0
    store_id: int | None = None


@dataclass(frozen=True)
class Payable:
    kind: str
    id: int
    number: str  # what people read (order number)
    state: PayableState
    cash_due_fen: int  # what WeChat Pay must collect
    total_fen: int
    stored_value_fen: int
    deadline: datetime  # pay before this (time_expire at WeChat)
    customer_id: int | None
    openid: str | None
    store_id: int | None
    description: str
    paid_fen: int = 0
    refunded_fen: int = 0
    extra: dict[str, object] = field(default_factory=dict)


class PayableSource(Protocol):
    kind: str

    async def load(self, session: AsyncSession, payable_id: int) -> Payable:
        """Raise NotFound when it does not exist."""
        ...

    async def mark_paid(
        self, session: AsyncSession, payable_id: int, payment_ref: str, paid_at: datetime
    ) -> MarkPaidResult: ...

    async def cancel_unpaid(self, session: AsyncSession, payable_id: int, reason: str) -> bool:
        """Cancel because the payment deadline passed unpaid; False when it was no longer cancellable."""
        ...

    async def payment_lines(self, session: AsyncSession, payable: Payable, cash_fen: int) -> list[Line]:
        """The lines that balance a debit of `cash_fen` to wechat_clearing: stored value used, HQ-borne
        discounts, and the credits to whoever earned the money."""
        ...

    async def refund_debits(self, session: AsyncSession, payable: Payable, amount_fen: int) -> list[Line]:
        """Debit lines (summing to `amount_fen`) of a refund; the credit side is wechat_clearing/stored value."""
        ...

    async def credit_stored_value(self, session: AsyncSession, payable: Payable, fen: int, ref: str) -> None:
        """Give stored value back at once (the stored-value part of a refund)."""
        ...

    async def payer_openid(self, session: AsyncSession, payable: Payable) -> str | None:
        """The customer's openid for a JSAPI payment."""
        ...


_sources: dict[str, PayableSource] = {}


def register_payable_source(source: PayableSource) -> None:
    _sources[source.kind] = source


def payable_source(kind: str) -> PayableSource:
    source = _sources.get(kind)
    if source is None:
        raise NotFound(f"payments cannot collect for {kind!r}: no such payable kind is registered")
    return source


async def load_payable(session: AsyncSession, kind: str, payable_id: int) -> Payable:
    return await payable_source(kind).load(session, payable_id)
