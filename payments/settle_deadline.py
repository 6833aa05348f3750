"""The unpaid deadline (payments decides): query WeChat, credit a paid intent, close the rest, else cancel.

`on_payment_deadline` handles `PaymentDeadlineReached` inside the orders job's transaction, where no
WeChat call may happen: with no open intent it cancels at once, otherwise it enqueues
`payments.settle_deadline`. That job calls WeChat first (query, close) while holding no business
row lock — the only lock its transaction holds then is the worker's own lease lock on its job row,
which nobody waits for (claims use SKIP LOCKED) — and only afterwards locks the intents (primary-key
order) and the order, for a few statements.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.events import PaymentDeadlineReached
from core.jobs import enqueue
from payments.payables import payable_source
from payments.recover_payments import WeChatBusy, apply_findings, look_up, open_intents

log = structlog.get_logger(__name__)

DEADLINE_JOB = "payments.settle_deadline"
# When WeChat cannot be asked, keep trying this long past the deadline, then cancel anyway: a payment
# that still arrives is then credited and refunded automatically (late payment).
GRACE = timedelta(minutes=10)
CANCEL_REASON = "支付超时，订单已自动取消 (payment deadline passed)"


async def on_payment_deadline(session: AsyncSession, event: PaymentDeadlineReached) -> None:
    intents = await open_intents(session, "order", event.order_id)
    if not intents:
        source = payable_source("order")
        payable = await source.load(session, event.order_id)
        if payable.state == "unpaid":
            cancelled = await source.cancel_unpaid(session, event.order_id, CANCEL_REASON)
            log.info("payment_deadline_cancelled", order_id=event.order_id, cancelled=cancelled, intents=0)
        return
    await enqueue(
        session, DEADLINE_JOB, {"kind": "order", "id": event.order_id}, dedupe_key=f"deadline:order:{event.order_id}"
    )


async def settle_deadline(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: decide an unpaid payable's fate at its deadline."""
    kind, payable_id = str(payload["kind"]), int(payload["id"])
    source = payable_source(kind)
    payable = await source.load(session, payable_id)
    intents = await open_intents(session, kind, payable_id)
    findings = await look_up(intents, close=True)  # WeChat first, nothing locked
    busy = [f for f in findings if f.seen == "unavailable"]
    if busy and (payable.state != "unpaid" or clock.now() < payable.deadline + GRACE):
        raise WeChatBusy(f"WeChat could not be asked about {', '.join(f.out_trade_no for f in busy)}: {busy[0].note}")
    credits = await apply_findings(session, findings, actor="deadline")
    if payable.state != "unpaid" or any(c.outcome in ("credited", "repeat") for c in credits):
        return
    if busy:
        log.warning("payment_deadline_cancel_without_wechat", payable=f"{kind}:{payable_id}", note=busy[0].note)
    cancelled = await source.cancel_unpaid(session, payable_id, CANCEL_REASON)
    log.info(
        "payment_deadline_decided",
        payable=f"{kind}:{payable_id}",
        cancelled=cancelled,
        seen={f.out_trade_no: f.seen for f in findings},
    )
