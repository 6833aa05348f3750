"""Asking WeChat ourselves: missed or late notifies, superseded intents to close, in two steps.

Step 1 (`look_up`) calls WeChat — query, and close when asked — with no business row locked.
Step 2 (`apply_findings`) locks the intents in primary-key order and applies what WeChat said: a
paid intent is credited exactly as a notify would have been, a closed one is marked closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.jobs import enqueue
from payments.credit_payment import Credit, PaymentMismatch, credit_payment
from payments.gateway import pay_client
from payments.models import PaymentIntent
from payments.payables import payable_source
from payments.status import lock_intent, move_intent
from wechat.pay import OrderClosed, OrderNotFound, OrderPaid, Transaction, WeChatPayError

log = structlog.get_logger(__name__)

CHECK_JOB = "payments.check_intent"
CLOSE_JOB = "payments.close_intents"
CHECK_EVERY = timedelta(minutes=3)
_CLOSED_STATES = ("CLOSED", "REVOKED")

Seen = Literal["paid", "closed", "open", "unavailable"]


@dataclass(frozen=True)
class Finding:
    intent_id: int
    out_trade_no: str
    seen: Seen
    txn: Transaction | None = None
    note: str = ""


class WeChatBusy(RuntimeError):
    """WeChat could not be asked now; the job retries with backoff."""


async def look_up(intents: Sequence[PaymentIntent], *, close: bool) -> list[Finding]:
    """Query WeChat for each intent; with `close`, close the unpaid ones. No database work here."""
    client = await pay_client()
    findings = []
    for intent in intents:
        try:
            txn = await client.query_order(intent.out_trade_no)
        except OrderNotFound:
            # WeChat never got the order (a failed create): nothing can be paid on it.
            findings.append(Finding(intent.id, intent.out_trade_no, "closed", note="unknown at WeChat"))
            continue
        except WeChatPayError as exc:
            findings.append(Finding(intent.id, intent.out_trade_no, "unavailable", note=f"{exc.code}: {exc.message}"))
            continue
        if txn.paid:
            findings.append(Finding(intent.id, intent.out_trade_no, "paid", txn))
        elif txn.trade_state in _CLOSED_STATES:
            findings.append(Finding(intent.id, intent.out_trade_no, "closed", note=txn.trade_state))
        elif not close:
            findings.append(Finding(intent.id, intent.out_trade_no, "open", note=txn.trade_state))
        else:
            findings.append(await _close(intent))
    return findings


async def _close(intent: PaymentIntent) -> Finding:
    client = await pay_client()
    try:
        await client.close_order(intent.out_trade_no)
        return Finding(intent.id, intent.out_trade_no, "closed", note="closed by us")
    except OrderClosed:
        return Finding(intent.id, intent.out_trade_no, "closed", note="already closed")
    except OrderPaid:
        # Paid between our query and our close: ask again for the transaction.
        try:
            txn = await client.query_order(intent.out_trade_no)
        except WeChatPayError as exc:
            return Finding(intent.id, intent.out_trade_no, "unavailable", note=f"{exc.code}: {exc.message}")
        return Finding(intent.id, intent.out_trade_no, "paid" if txn.paid else "unavailable", txn)
    except WeChatPayError as exc:
        return Finding(intent.id, intent.out_trade_no, "unavailable", note=f"{exc.code}: {exc.message}")


async def apply_findings(session: AsyncSession, findings: Sequence[Finding], *, actor: str) -> list[Credit]:
    """Lock the intents (primary-key order) and apply WeChat's answers; returns the credits made."""
    credits = []
    for finding in sorted(findings, key=lambda f: f.intent_id):
        if finding.seen not in ("paid", "closed"):
            continue
        intent = await lock_intent(session, intent_id=finding.intent_id)
        if intent is None:
            continue
        if finding.seen == "paid":
            assert finding.txn is not None
            try:
                credits.append(await credit_payment(session, intent, finding.txn, via="query", actor=actor))
            except PaymentMismatch as exc:
                log.error("payment_query_mismatch", intent_id=intent.id, error=exc.detail)
        elif intent.status in ("pending", "failed"):
            await move_intent(session, intent, "closed", actor=actor, reason=finding.note, closed_at=clock.now())
    return credits


async def open_intents(session: AsyncSession, payable_kind: str, payable_id: int) -> list[PaymentIntent]:
    rows = await session.scalars(
        select(PaymentIntent)
        .where(
            PaymentIntent.payable_kind == payable_kind,
            PaymentIntent.payable_id == payable_id,
            PaymentIntent.status.in_(("pending", "failed")),
        )
        .order_by(PaymentIntent.id)
    )
    return list(rows)


async def check_intent(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: an intent still unpaid a while after creation — did WeChat take the money? Is it superseded?"""
    intent = await session.get(PaymentIntent, int(payload["intent_id"]))
    if intent is None or intent.status != "pending":
        return
    payable = await payable_source(intent.payable_kind).load(session, intent.payable_id)
    now = clock.now()
    # Superseded: the payable was paid by another intent, or cancelled. Expired: WeChat no longer takes it.
    finished = payable.state != "unpaid" or now >= intent.time_expire
    findings = await look_up([intent], close=finished)
    if any(f.seen == "unavailable" for f in findings):
        raise WeChatBusy(f"could not check {intent.out_trade_no} at WeChat: {findings[0].note}")
    await apply_findings(session, findings, actor="recovery")
    await session.execute(
        update(PaymentIntent).where(PaymentIntent.id == intent.id).values(checks=PaymentIntent.checks + 1)
    )
    if findings[0].seen == "open" and now < intent.time_expire:
        n = int(payload.get("n", 1)) + 1
        await enqueue(
            session,
            CHECK_JOB,
            {"intent_id": intent.id, "n": n},
            run_at=min(now + CHECK_EVERY, intent.time_expire),
            dedupe_key=f"intent:{intent.id}:check:{n}",
        )


async def close_intents(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: close a payable's unpaid intents at WeChat (it was cancelled or paid otherwise)."""
    intents = await open_intents(session, str(payload["kind"]), int(payload["id"]))
    if not intents:
        return
    findings = await look_up(intents, close=True)
    if any(f.seen == "unavailable" for f in findings):
        raise WeChatBusy("some intents could not be closed at WeChat yet")
    await apply_findings(session, findings, actor="system")


async def schedule_close(session: AsyncSession, payable_kind: str, payable_id: int, why: str) -> None:
    await enqueue(
        session,
        CLOSE_JOB,
        {"kind": payable_kind, "id": payable_id},
        dedupe_key=f"close:{payable_kind}:{payable_id}:{why}",
    )
