"""Refund requests: the `request_refund` seam (idempotent by ref), the split between WeChat and stored value, limits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import structlog
from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import Conflict, InvalidInput, Unprocessable
from core.events import RefundSucceeded, publish
from core.jobs import enqueue
from payments import ledger
from payments.models import PaymentEvent, PaymentIntent, Refund
from payments.payables import Line, Payable, payable_source
from payments.status import move_refund

log = structlog.get_logger(__name__)

SEND_JOB = "payments.send_refund"
# A refund is retried with the jobs' exponential backoff (capped at an hour) for about a day and a half.
REFUND_MAX_ATTEMPTS = 45
_LIVE = ("pending", "processing", "success", "abnormal")  # CLOSED and failed refunds give the money back to refund


class RefundTooLarge(Unprocessable):
    """More than what was paid minus what was (or is being) refunded."""


@dataclass(frozen=True)
class RefundView:
    id: int
    ref: str
    out_refund_no: str
    amount_fen: int
    wechat_fen: int
    stored_value_fen: int
    status: str

    @classmethod
    def of(cls, r: Refund) -> RefundView:
        return cls(r.id, r.ref, r.out_refund_no, r.amount_fen, r.wechat_fen, r.stored_value_fen, r.status)


AFTER_SALE_REF = "aftersale:"


def event_refund_id(refund: Refund) -> int:
    """The refund id RefundSucceeded carries: orders' after-sales request id for after-sales refunds
    (orders marks that request refunded), else ours."""
    if refund.ref.startswith(AFTER_SALE_REF):
        return int(refund.ref.removeprefix(AFTER_SALE_REF))
    return refund.id


def out_refund_no_for(ref: str) -> str:
    """Derived from the request's ref, so the same request can never become two refunds at WeChat."""
    return "R" + hashlib.sha256(ref.encode()).hexdigest()[:31].upper()


async def refunded_so_far(session: AsyncSession, payable_kind: str, payable_id: int) -> tuple[int, int]:
    """(WeChat fen, stored-value fen) refunded or being refunded for a payable's own payments."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(Refund.wechat_fen), 0), func.coalesce(func.sum(Refund.stored_value_fen), 0)
            ).where(
                Refund.payable_kind == payable_kind,
                Refund.payable_id == payable_id,
                Refund.kind == "order",
                Refund.status.in_(_LIVE),
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def credited_intent(
    session: AsyncSession, payable_kind: str, payable_id: int, *, lock: bool = False
) -> PaymentIntent | None:
    query = (
        select(PaymentIntent)
        .where(
            PaymentIntent.payable_kind == payable_kind,
            PaymentIntent.payable_id == payable_id,
            PaymentIntent.status == "paid",
            PaymentIntent.credit_outcome == "credited",
        )
        .order_by(PaymentIntent.id)
        .limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


def split_refund(amount: int, wechat_left: int, sv_left: int, wechat_paid: int, sv_paid: int) -> tuple[int, int]:
    """Split a refund in proportion to how the payable was paid, within what is left on each side."""
    total_paid = wechat_paid + sv_paid
    sv = amount * sv_paid // total_paid if total_paid else 0
    wechat = amount - sv
    if wechat > wechat_left:
        sv, wechat = sv + wechat - wechat_left, wechat_left
    if sv > sv_left:
        wechat, sv = wechat + sv - sv_left, sv_left
    return wechat, sv


async def request_refund(
    session: AsyncSession,
    order_id: int,
    amount_fen: int,
    reason: str,
    ref: str,
    *,
    payable_kind: str = "order",
    actor: str = "system",
    wechat_only: bool = False,
) -> RefundView:
    """Refund part or all of what a payable's customer paid; idempotent by `ref` (same ref → same refund).

    The amount is split in proportion to how it was paid; the stored-value part goes back at once, the
    WeChat part is sent by a job after commit and retried until WeChat says SUCCESS, CLOSED or ABNORMAL.
    `wechat_only`: the stored value was already given back by the caller (orders does on cancel).
    """
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise InvalidInput("a refund amount must be a positive integer number of fen")
    if not ref or len(ref) > 100:
        raise InvalidInput("a refund needs a ref of 1–100 characters (it makes the request idempotent)")
    existing = await session.scalar(select(Refund).where(Refund.ref == ref))
    if existing is not None:
        return _same_request(existing, payable_kind, order_id, amount_fen)
    source = payable_source(payable_kind)
    intent = await credited_intent(session, payable_kind, order_id, lock=True)
    if intent is None:
        # Nothing paid through WeChat: serialize stored-value-only refunds of this payable another way.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"refund:{payable_kind}:{order_id}"}
        )
    existing = await session.scalar(select(Refund).where(Refund.ref == ref))  # a racer may have won meanwhile
    if existing is not None:
        return _same_request(existing, payable_kind, order_id, amount_fen)
    payable = await source.load(session, order_id)
    wechat_paid = int(intent.paid_fen or 0) if intent else 0
    sv_paid = payable.stored_value_fen if (intent is not None or payable.state != "unpaid") else 0
    wechat_done, sv_done = await refunded_so_far(session, payable_kind, order_id)
    wechat_left, sv_left = wechat_paid - wechat_done, sv_paid - sv_done
    if amount_fen > wechat_left + sv_left:
        raise RefundTooLarge(
            f"a refund of {amount_fen} fen is more than is left to refund on {payable.number}: "
            f"{wechat_left + sv_left} fen (paid {wechat_paid + sv_paid}, refunded or refunding "
            f"{wechat_done + sv_done})",
            extra={"left_fen": wechat_left + sv_left},
        )
    if wechat_only:
        if amount_fen > wechat_left:
            raise RefundTooLarge(
                f"a refund of {amount_fen} fen is more than is left of the WeChat payment of {payable.number}: "
                f"{wechat_left} fen",
                extra={"left_fen": wechat_left},
            )
        wechat_fen, sv_fen = amount_fen, 0
    else:
        wechat_fen, sv_fen = split_refund(amount_fen, wechat_left, sv_left, wechat_paid, sv_paid)
    refund = await create_refund(
        session,
        intent=intent,
        payable=payable,
        wechat_fen=wechat_fen,
        stored_value_fen=sv_fen,
        reason=reason,
        ref=ref,
        kind="order",
        actor=actor,
    )
    return RefundView.of(refund)


def _same_request(existing: Refund, payable_kind: str, payable_id: int, amount_fen: int) -> RefundView:
    if (existing.payable_kind, existing.payable_id, existing.amount_fen) != (payable_kind, payable_id, amount_fen):
        raise Conflict(
            f"refund ref {existing.ref!r} was already used for {existing.amount_fen} fen on "
            f"{existing.payable_kind} {existing.payable_id}; use a new ref for a new refund"
        )
    return RefundView.of(existing)


async def create_refund(
    session: AsyncSession,
    *,
    intent: PaymentIntent | None,
    payable: Payable,
    wechat_fen: int,
    stored_value_fen: int,
    reason: str,
    ref: str,
    kind: str,
    actor: str,
) -> Refund:
    """Write the refund (once per ref), give the stored-value part back now, schedule the WeChat part."""
    now = clock.now()
    new_id = await session.scalar(
        pg_insert(Refund)
        .values(
            ref=ref,
            out_refund_no=out_refund_no_for(ref),
            kind=kind,
            payable_kind=payable.kind,
            payable_id=payable.id,
            intent_id=intent.id if intent else None,
            store_id=payable.store_id,
            amount_fen=wechat_fen + stored_value_fen,
            wechat_fen=wechat_fen,
            stored_value_fen=stored_value_fen,
            reason=reason[:200],
            status="pending",
            requested_by=actor[:64],
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["ref"])
        .returning(Refund.id)
    )
    if new_id is None:
        existing = await session.scalar(select(Refund).where(Refund.ref == ref))
        assert existing is not None
        return existing
    await session.execute(
        insert(PaymentEvent).values(
            refund_id=new_id, from_status=None, to_status="pending", actor=actor[:64], reason=reason[:300], at=now
        )
    )
    refund = await session.get(Refund, new_id)
    assert refund is not None
    source = payable_source(payable.kind)
    if stored_value_fen:
        await source.credit_stored_value(session, payable, stored_value_fen, f"refund:{new_id}")
        await ledger.post(
            session,
            ref=f"refund_sv:{new_id}",
            kind="refund_stored_value",
            lines=[
                *await source.refund_debits(session, payable, stored_value_fen),
                Line(ledger.STORED_VALUE, credit_fen=stored_value_fen),
            ],
            order_id=payable.id if payable.kind == "order" else None,
            refund_id=new_id,
            memo=f"{payable.number} {refund.out_refund_no} stored value",
        )
    if wechat_fen:
        await enqueue(
            session,
            SEND_JOB,
            {"refund_id": new_id},
            dedupe_key=f"refund:{new_id}:send",
            max_attempts=REFUND_MAX_ATTEMPTS,
        )
    else:
        await move_refund(
            session, refund, "success", actor=actor, reason="stored value only", succeeded_at=now, finished_at=now
        )
        if payable.kind == "order":
            await publish(
                session,
                RefundSucceeded(order_id=payable.id, refund_id=event_refund_id(refund), amount_fen=refund.amount_fen),
            )
    log.info(
        "refund_requested",
        refund_id=new_id,
        ref=ref,
        kind=kind,
        payable=f"{payable.kind}:{payable.id}",
        wechat_fen=wechat_fen,
        stored_value_fen=stored_value_fen,
    )
    return refund
