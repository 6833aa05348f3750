"""Refunds at WeChat: send (retried with backoff), poll while PROCESSING, and apply results from answers and notifies.

WeChat is called from jobs only, before any business row is locked: the job reads the refund, calls
WeChat, then locks the refund row and applies the answer in a few statements.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, metrics
from core.db import unit_of_work
from core.errors import Conflict, NotFound, Unprocessable
from core.events import RefundSucceeded, publish
from core.jobs import enqueue
from payments import ledger
from payments.gateway import notify_url, pay_client
from payments.models import PaymentIntent, Refund
from payments.payables import Line, payable_source
from payments.request_refund import REFUND_MAX_ATTEMPTS, SEND_JOB, event_refund_id
from payments.status import REFUND_FINAL, lock_refund, move_refund
from wechat.pay import NotEnoughFunds, WeChatPayError
from wechat.pay import Refund as WxRefund

log = structlog.get_logger(__name__)

POLL_JOB = "payments.poll_refund"
POLL_FIRST = timedelta(seconds=30)
POLL_MAX = timedelta(hours=6)
_STATUS = {"PROCESSING": "processing", "SUCCESS": "success", "CLOSED": "closed", "ABNORMAL": "abnormal"}


class RefundMismatch(Unprocessable):
    """WeChat's refund record does not match ours (number, amount, merchant): never applied."""


async def _record_error(refund_id: int, error: str) -> None:
    # The job's own transaction rolls back on a retry; the error stays visible to finance anyway.
    async with unit_of_work() as session:
        refund = await lock_refund(session, refund_id=refund_id)
        if refund is not None:
            refund.attempts += 1
            refund.last_error = error[:500]


async def send_refund(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: ask WeChat to refund; retryable failures raise (the job retries with backoff)."""
    refund = await session.get(Refund, int(payload["refund_id"]))
    if refund is None or refund.status != "pending" or not refund.wechat_fen:
        return
    intent = await session.get(PaymentIntent, refund.intent_id)
    assert intent is not None and intent.paid_fen is not None
    client = await pay_client()
    try:
        answer = await client.refund(
            out_trade_no=intent.out_trade_no,
            out_refund_no=refund.out_refund_no,
            refund_fen=refund.wechat_fen,
            total_fen=intent.paid_fen,
            notify_url=notify_url(),
            reason=refund.reason[:80] or None,
        )
    except WeChatPayError as exc:
        await _record_error(refund.id, f"{exc.code}: {exc.message}")
        if exc.retryable or isinstance(exc, NotEnoughFunds):
            raise
        locked = await lock_refund(session, refund_id=refund.id)
        if locked is not None and locked.status == "pending":
            await move_refund(
                session,
                locked,
                "failed",
                actor="wechatpay",
                reason=f"{exc.code}: {exc.message}"[:300],
                last_error=f"{exc.code}: {exc.message}"[:500],
            )
            log.error("refund_refused", refund_id=refund.id, code=exc.code, message=exc.message)
        return
    locked = await lock_refund(session, refund_id=refund.id)
    assert locked is not None
    await apply_refund_result(session, locked, answer, via="api")


async def poll_refund(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: ask WeChat how a PROCESSING refund went (the fallback when no notify arrives)."""
    refund = await session.get(Refund, int(payload["refund_id"]))
    if refund is None or refund.status not in ("processing", "abnormal"):
        return
    answer = await (await pay_client()).query_refund(refund.out_refund_no)
    locked = await lock_refund(session, refund_id=refund.id)
    assert locked is not None
    await apply_refund_result(session, locked, answer, via="query")
    if locked.status == "processing":
        n = int(payload.get("n", 1)) + 1
        await _schedule_poll(session, locked.id, n)


async def _schedule_poll(session: AsyncSession, refund_id: int, n: int) -> None:
    delay = min(POLL_FIRST * (2 ** (n - 1)), POLL_MAX)
    await enqueue(
        session,
        POLL_JOB,
        {"refund_id": refund_id, "n": n},
        delay=delay,
        dedupe_key=f"refund:{refund_id}:poll:{n}",
        max_attempts=REFUND_MAX_ATTEMPTS,
    )


def check_refund(refund: Refund, wx: WxRefund, mchid: str | None = None) -> None:
    if wx.out_refund_no != refund.out_refund_no:
        raise RefundMismatch(f"out_refund_no {wx.out_refund_no!r} is not {refund.out_refund_no!r}")
    if wx.refund_fen is not None and wx.refund_fen != refund.wechat_fen:
        raise RefundMismatch(f"refund amount {wx.refund_fen} differs from the {refund.wechat_fen} fen asked")
    if mchid is not None and wx.raw.get("mchid") not in (None, mchid):
        raise RefundMismatch(f"mchid {wx.raw.get('mchid')!r} is not our merchant")
    if wx.status not in _STATUS:
        raise RefundMismatch(f"unknown refund status {wx.status!r}")


async def apply_refund_result(session: AsyncSession, refund: Refund, wx: WxRefund, *, via: str) -> str:
    """Apply WeChat's word on a locked refund; returns "applied" or "repeat" (nothing new)."""
    check_refund(refund, wx)
    to = _STATUS[wx.status]
    if to == refund.status or refund.status in REFUND_FINAL:
        if refund.status in REFUND_FINAL and to != refund.status:
            log.warning("refund_result_after_final", refund_id=refund.id, have=refund.status, got=to, via=via)
        return "repeat"
    if to == "processing":
        if refund.status not in ("pending", "failed"):
            return "repeat"
        await move_refund(
            session,
            refund,
            "processing",
            actor="wechatpay",
            reason=f"{via}: accepted",
            wechat_refund_id=wx.refund_id or None,
        )
        await _schedule_poll(session, refund.id, 1)
        return "applied"
    now = clock.now()
    changes: dict[str, Any] = {"finished_at": now, "wechat_refund_id": wx.refund_id or refund.wechat_refund_id}
    if to == "success":
        changes["succeeded_at"] = wx.success_time or now
    await move_refund(session, refund, to, actor="wechatpay", reason=f"{via}: {wx.status}", **changes)
    if to == "success":
        await _post_refund(session, refund)
    elif to == "abnormal":
        # The money could not reach the customer (closed account…): finance must act in WeChat's console.
        log.error("refund_abnormal", refund_id=refund.id, out_refund_no=refund.out_refund_no, fen=refund.wechat_fen)
    metrics.PAYMENTS.labels(event=f"refund_result_{to}").inc()
    return "applied"


async def _post_refund(session: AsyncSession, refund: Refund) -> None:
    source = payable_source(refund.payable_kind)
    payable = await source.load(session, refund.payable_id)
    if refund.kind == "order":
        debits = await source.refund_debits(session, payable, refund.wechat_fen)
    else:
        debits = [Line(ledger.UNALLOCATED, debit_fen=refund.wechat_fen)]
    await ledger.post(
        session,
        ref=f"refund:{refund.id}",
        kind="refund",
        lines=[*debits, Line(ledger.WECHAT_CLEARING, credit_fen=refund.wechat_fen)],
        occurred_at=refund.succeeded_at,
        order_id=refund.payable_id if refund.payable_kind == "order" else None,
        intent_id=refund.intent_id,
        refund_id=refund.id,
        memo=f"{payable.number} {refund.out_refund_no}",
    )
    if refund.payable_kind == "order":
        await publish(
            session,
            RefundSucceeded(
                order_id=refund.payable_id, refund_id=event_refund_id(refund), amount_fen=refund.amount_fen
            ),
        )


async def retry_refund(session: AsyncSession, refund_id: int, actor: str) -> Refund:
    """Finance sends a refund WeChat refused (failed) again, once the cause is fixed (same out_refund_no)."""
    refund = await lock_refund(session, refund_id=refund_id)
    if refund is None:
        raise NotFound(f"refund {refund_id} does not exist")
    if refund.status != "failed":
        raise Conflict(f"refund {refund_id} is {refund.status}; only a failed refund can be sent again")
    await move_refund(session, refund, "pending", actor=actor, reason="sent again by finance")
    await enqueue(
        session,
        SEND_JOB,
        {"refund_id": refund.id},
        dedupe_key=f"refund:{refund.id}:send:{refund.attempts + 1}:{int(clock.now().timestamp())}",
        max_attempts=REFUND_MAX_ATTEMPTS,
    )
    return refund
