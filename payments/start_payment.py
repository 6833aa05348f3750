"""The `start_payment` seam: a payment intent for a payable — JSAPI pay-sheet parameters or a Native QR code.

A valid intent is reused (same channel and amount, its prepay_id good for a while yet, same deadline);
otherwise a new one with a fresh out_trade_no. WeChat is called between two transactions: the reads
are committed first (what the caller wrote before, e.g. a new top-up, is committed with them), so no
connection is held and no row locked while we wait for WeChat's answer; then the payable is read again
and, unchanged, the intent row with its first event (one statement on the driver) and its recovery
timer are written. The mid-way commit also commits what the caller wrote before (a new top-up: its
controller cancels it when the payment cannot start) and detaches the session's objects: a caller may read
what it loaded, but changes it makes to them afterwards are not saved.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, metrics
from core.driver_sql import DriverStatement, fetchval
from core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from core.ids import trade_no
from core.jobs import enqueue
from core.settings import get_settings
from payments.gateway import notify_url, pay_client
from payments.models import PaymentIntent
from payments.payables import Payable, payable_source
from wechat.pay import WeChatPayError, WeChatPayUnavailable

log = structlog.get_logger(__name__)

CHANNELS = ("JSAPI", "NATIVE")
PREPAY_VALIDITY = timedelta(hours=2)
# Reuse a prepay only while the customer still has time to finish paying with it.
REUSE_MARGIN = timedelta(minutes=5)
# Refuse to start a payment the customer could not finish before the deadline.
MIN_TIME_LEFT = timedelta(seconds=30)
CHECK_JOB = "payments.check_intent"
FIRST_CHECK_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class PaymentStart:
    """What the page needs to let the customer pay."""

    intent_id: int
    out_trade_no: str
    channel: str
    amount_fen: int
    expires_at: datetime
    status: str
    reused: bool
    jsapi_params: dict[str, str] | None = None  # for WeixinJSBridge.invoke('getBrandWCPayRequest', …)
    code_url: str | None = None  # Native: render as a QR code
    qr_png_base64: str | None = None


def qr_png(code_url: str) -> bytes:
    import qrcode

    image = qrcode.make(code_url, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class _Intent:
    """What the answer needs of an intent (a stored one, or the one just written)."""

    id: int
    out_trade_no: str
    channel: str
    amount_fen: int
    time_expire: datetime
    status: str
    prepay_id: str | None
    code_url: str | None


async def _answer(intent: _Intent | PaymentIntent, reused: bool) -> PaymentStart:
    jsapi = None
    qr = None
    if intent.channel == "JSAPI" and intent.prepay_id:
        jsapi = (await pay_client()).jsapi_params(intent.prepay_id)  # a fresh paySign each time
    if intent.channel == "NATIVE" and intent.code_url:
        qr = base64.b64encode(qr_png(intent.code_url)).decode("ascii")
    return PaymentStart(
        intent_id=intent.id,
        out_trade_no=intent.out_trade_no,
        channel=intent.channel,
        amount_fen=intent.amount_fen,
        expires_at=intent.time_expire,
        status=intent.status,
        reused=reused,
        jsapi_params=jsapi,
        code_url=intent.code_url,
        qr_png_base64=qr,
    )


_INSERT_INTENT = DriverStatement(
    """
    WITH i AS (
        INSERT INTO payment_intents (
            out_trade_no, payable_kind, payable_id, channel, amount_fen, description, appid, mchid, openid,
            store_id, status, prepay_id, prepay_expires_at, code_url, time_expire, checks, created_at, updated_at)
        VALUES (
            :out_trade_no, :payable_kind, :payable_id, :channel, :amount_fen, :description, :appid, :mchid, :openid,
            :store_id, 'pending', :prepay_id, :prepay_expires_at, :code_url, :time_expire, 0, :now, :now)
        RETURNING id
    ), e AS (
        INSERT INTO payment_events (intent_id, from_status, to_status, actor, reason, at)
        SELECT id, NULL, 'pending', 'customer', :channel, :now FROM i
    )
    SELECT id FROM i
    """
)


async def reusable_intent(session: AsyncSession, payable: Payable, channel: str) -> PaymentIntent | None:
    now = clock.now()
    return await session.scalar(
        select(PaymentIntent)
        .where(
            PaymentIntent.payable_kind == payable.kind,
            PaymentIntent.payable_id == payable.id,
            PaymentIntent.channel == channel,
            PaymentIntent.status == "pending",
            PaymentIntent.amount_fen == payable.cash_due_fen,
            PaymentIntent.time_expire == payable.deadline,
            PaymentIntent.prepay_expires_at > now + REUSE_MARGIN,
        )
        .order_by(PaymentIntent.id.desc())
        .limit(1)
    )


async def start_payment(
    session: AsyncSession,
    order_id: int,
    channel: str = "JSAPI",
    *,
    payable_kind: str = "order",
    customer_id: int | None = None,
    openid: str | None = None,
) -> PaymentStart:
    """Start (or resume) paying a payable's cash part. `customer_id`, when given, must own the payable."""
    channel = channel.upper()
    if channel not in CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CHANNELS)} (JSAPI inside WeChat, NATIVE for a QR code)")
    source = payable_source(payable_kind)
    payable = await source.load(session, order_id)
    if customer_id is not None and payable.customer_id != customer_id:
        raise NotFound(f"{payable_kind} {order_id} does not exist")
    if payable.state == "paid":
        raise Conflict(f"{payable.number} is already paid")
    if payable.state == "cancelled":
        raise Conflict(f"{payable.number} is cancelled; place a new order")
    if payable.cash_due_fen <= 0:
        raise Conflict(f"{payable.number} has nothing left to pay through WeChat Pay")
    now = clock.now()
    if payable.deadline - now < MIN_TIME_LEFT:
        raise Conflict(f"the time to pay {payable.number} is over; it will be cancelled")
    existing = await reusable_intent(session, payable, channel)
    if existing is not None:
        return await _answer(existing, reused=True)

    payer = openid or payable.openid
    if channel == "JSAPI" and not payer:
        payer = await source.payer_openid(session, payable)
    if channel == "JSAPI" and not payer:
        raise InvalidInput("JSAPI payment needs the customer's openid: open the page inside WeChat and sign in")
    s = get_settings()
    out_trade_no = trade_no("P")
    client = await pay_client()
    # Nothing is written yet: end the reading transaction so no pooled connection sits idle while WeChat
    # answers (with 50 customers paying and a slow WeChat, a held connection each emptied the pool and
    # stalled every other request). The payable is read again before the intent is written.
    await session.commit()
    session.expunge_all()  # the second read must see the rows as they are then, not as loaded before
    try:
        if channel == "JSAPI":
            assert payer is not None
            prepay_id: str | None = await client.create_jsapi_order(
                out_trade_no=out_trade_no,
                description=payable.description[:127],
                total_fen=payable.cash_due_fen,
                openid=payer,
                notify_url=notify_url(s),
                time_expire=payable.deadline,
                attach=f"{payable.kind}:{payable.id}",
            )
            code_url = None
        else:
            code_url = await client.create_native_order(
                out_trade_no=out_trade_no,
                description=payable.description[:127],
                total_fen=payable.cash_due_fen,
                notify_url=notify_url(s),
                time_expire=payable.deadline,
                attach=f"{payable.kind}:{payable.id}",
            )
            prepay_id = None
    except WeChatPayUnavailable as exc:
        log.warning("payment_start_unavailable", out_trade_no=out_trade_no, error=str(exc))
        raise ServiceUnavailable("WeChat Pay is not answering right now; try again in a moment") from exc
    except WeChatPayError as exc:
        log.warning("payment_start_refused", out_trade_no=out_trade_no, code=exc.code, message=exc.message)
        raise Conflict(f"WeChat Pay refused the payment: {exc.message} ({exc.code})") from exc

    now = clock.now()
    again = await source.load(session, order_id)
    if (again.state, again.cash_due_fen, again.deadline) != (payable.state, payable.cash_due_fen, payable.deadline):
        # Paid, cancelled or changed while WeChat answered: this prepay is never shown (it expires unused).
        log.info("payment_start_overtaken", out_trade_no=out_trade_no, payable=f"{payable.kind}:{payable.id}")
        raise Conflict(f"{again.number} changed while the payment was being prepared ({again.state}); reload the page")
    intent_id = await fetchval(
        session,
        _INSERT_INTENT,
        {
            "out_trade_no": out_trade_no,
            "payable_kind": payable.kind,
            "payable_id": payable.id,
            "channel": channel,
            "amount_fen": payable.cash_due_fen,
            "description": payable.description[:127],
            "appid": client.appid,
            "mchid": client.mchid,
            "openid": payer,
            "store_id": payable.store_id,
            "prepay_id": prepay_id,
            "prepay_expires_at": now + PREPAY_VALIDITY,
            "code_url": code_url,
            "time_expire": payable.deadline,
            "now": now,
        },
    )
    intent = _Intent(
        intent_id, out_trade_no, channel, payable.cash_due_fen, payable.deadline, "pending", prepay_id, code_url
    )
    # Missed or late notifies: look at WeChat ourselves if nothing arrived in a while.
    await enqueue(
        session,
        CHECK_JOB,
        {"intent_id": intent.id, "n": 1},
        run_at=min(now + FIRST_CHECK_AFTER, payable.deadline),
        dedupe_key=f"intent:{intent.id}:check:1",
    )
    metrics.PAYMENTS.labels(event=f"intent_created_{channel.lower()}").inc()
    log.info(
        "payment_started",
        intent_id=intent.id,
        out_trade_no=out_trade_no,
        payable=f"{payable.kind}:{payable.id}",
        channel=channel,
        fen=payable.cash_due_fen,
    )
    return await _answer(intent, reused=False)
