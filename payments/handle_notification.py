"""WeChat Pay notifies (`POST /payments/wechatpay/notify`): verify on the raw bytes, decrypt, check, apply once.

Payment notifies are credited in one transaction with the intent's row lock held: the transaction id
(unique), the intent's state, the order's state (through orders), the ledger posting and the audit
row commit together. Every request is stored in `payment_notifies`, accepted or not; a rejected or
failed one is stored in a transaction of its own, so the audit survives the rollback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, metrics
from core.db import unit_of_work
from core.settings import get_settings
from payments.credit_payment import PaymentMismatch, credit_payment
from payments.execute_refund import RefundMismatch, apply_refund_result
from payments.gateway import pay_client
from payments.models import PaymentIntent, PaymentNotify
from payments.status import lock_intent, lock_refund
from wechat.pay import DecryptError, NotifyError, PayCryptoError, PayNotify, SignatureError

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024  # WeChat's notifies are ~1 KB; anything bigger is not one of them


@dataclass(frozen=True)
class NotifyAnswer:
    status_code: int
    body: dict[str, str] | None  # None → empty 204
    outcome: str


class Rejected(Exception):
    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


def _fail(status: int, message: str, outcome: str) -> NotifyAnswer:
    return NotifyAnswer(status, {"code": "FAIL", "message": message[:200]}, outcome)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name) or headers.get(name.lower())
    return value[:80] if value else None


def _audit_values(headers: Mapping[str, str], raw: bytes) -> dict[str, Any]:
    envelope: dict[str, Any] = {}
    try:
        parsed = json.loads(raw)
        if isinstance(parsed, dict):
            envelope = parsed
    except ValueError:
        pass
    return {
        "received_at": clock.now(),
        "notify_id": str(envelope.get("id"))[:64] if envelope.get("id") else None,
        "event_type": str(envelope.get("event_type"))[:40] if envelope.get("event_type") else None,
        "serial": _header(headers, "Wechatpay-Serial"),
        "signed_at": (_header(headers, "Wechatpay-Timestamp") or "")[:20] or None,
        "nonce": (_header(headers, "Wechatpay-Nonce") or "")[:64] or None,
        "body": raw[:MAX_BODY].decode("utf-8", "replace"),
    }


async def _audit(session: AsyncSession, base: dict[str, Any], **values: Any) -> None:
    await session.execute(insert(PaymentNotify).values(**base, **values))


async def _audit_alone(base: dict[str, Any], **values: Any) -> None:
    try:
        async with unit_of_work() as session:
            await _audit(session, base, **values)
    except Exception:  # the audit must never turn a rejection into a crash
        log.exception("notify_audit_failed")


async def handle_notification(headers: Mapping[str, str], raw: bytes) -> NotifyAnswer:
    """Answer for WeChat: 204 when applied (or already applied), 4xx/5xx FAIL when it must not be trusted or retry."""
    base = _audit_values(headers, raw)
    if len(raw) > MAX_BODY:
        await _audit_alone(base, verified=False, outcome="rejected", http_status=413, error="body too large")
        return _fail(413, "body too large", "rejected")
    client = await pay_client()
    try:
        notify = client.parse_notify(headers, raw)
    except SignatureError as exc:
        return await _reject(base, 401, "rejected", f"signature: {exc.reason}: {exc}", verified=False)
    except (DecryptError, NotifyError, PayCryptoError) as exc:
        return await _reject(base, 400, "rejected", f"{type(exc).__name__}: {exc}", verified=True)
    resource_ids = {
        "out_trade_no": str(notify.resource.get("out_trade_no") or "")[:32] or None,
        "transaction_id": str(notify.resource.get("transaction_id") or "")[:32] or None,
        "out_refund_no": str(notify.resource.get("out_refund_no") or "")[:64] or None,
    }
    base = {**base, **resource_ids, "resource": notify.resource}
    try:
        async with unit_of_work() as session:
            if notify.is_transaction:
                outcome = await _apply_transaction(session, notify)
            elif notify.is_refund:
                outcome = await _apply_refund(session, notify)
            else:
                outcome = "ignored"  # an event type we do not use: take it so WeChat stops sending it
            await _audit(session, base, verified=True, outcome=outcome, http_status=204)
    except Rejected as exc:
        return await _reject(base, exc.status, exc.outcome, exc.message, verified=True)
    except (PaymentMismatch, RefundMismatch) as exc:
        return await _reject(base, 400, "rejected", exc.detail, verified=True)
    except Exception as exc:
        log.exception("notify_failed", **{k: v for k, v in resource_ids.items() if v})
        await _audit_alone(
            base, verified=True, outcome="failed", http_status=500, error=f"{type(exc).__name__}: {exc}"[:500]
        )
        metrics.PAYMENTS.labels(event="notify_failed").inc()
        return _fail(500, "temporarily unable to process; please retry", "failed")
    metrics.PAYMENTS.labels(event=f"notify_{outcome}").inc()
    return NotifyAnswer(204, None, outcome)


async def _reject(base: dict[str, Any], status: int, outcome: str, error: str, *, verified: bool) -> NotifyAnswer:
    log.warning("notify_rejected", status=status, error=error[:300], event_type=base.get("event_type"))
    metrics.PAYMENTS.labels(event="notify_rejected").inc()
    await _audit_alone(base, verified=verified, outcome=outcome, http_status=status, error=error[:500])
    return _fail(status, error, outcome)


async def _apply_transaction(session: AsyncSession, notify: PayNotify) -> str:
    txn = notify.transaction()
    s = get_settings()
    if txn.mchid != s.wechatpay_mchid or txn.appid != s.wechat_appid:
        raise Rejected(400, "rejected", f"mchid/appid {txn.mchid}/{txn.appid} are not ours")
    if notify.event_type != "TRANSACTION.SUCCESS" or txn.trade_state != "SUCCESS":
        raise Rejected(400, "rejected", f"{notify.event_type} with trade_state {txn.trade_state} is not a payment")
    intent = await lock_intent(session, out_trade_no=txn.out_trade_no)
    if intent is None:
        raise Rejected(404, "rejected", f"no payment {txn.out_trade_no!r} was asked for")
    credit = await credit_payment(session, intent, txn, via="notify")
    return credit.outcome


async def _apply_refund(session: AsyncSession, notify: PayNotify) -> str:
    wx = notify.refund()
    if wx.raw.get("mchid") != get_settings().wechatpay_mchid:
        raise Rejected(400, "rejected", f"mchid {wx.raw.get('mchid')!r} is not ours")
    refund = await lock_refund(session, out_refund_no=wx.out_refund_no)
    if refund is None:
        raise Rejected(404, "rejected", f"no refund {wx.out_refund_no!r} was asked for")
    intent = await session.get(PaymentIntent, refund.intent_id) if refund.intent_id else None
    if intent is None or wx.out_trade_no != intent.out_trade_no:
        raise Rejected(400, "rejected", f"refund {wx.out_refund_no} does not belong to {wx.out_trade_no}")
    if wx.status not in ("SUCCESS", "CLOSED", "ABNORMAL"):
        raise Rejected(400, "rejected", f"{notify.event_type} carries refund status {wx.status!r}")
    result = await apply_refund_result(session, refund, wx, via="notify")
    return "refund_applied" if result == "applied" else "refund_repeat"
