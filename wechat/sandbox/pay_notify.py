"""Sandbox Pay notifies: build signed, encrypted callbacks and deliver them with WeChat's retry schedule."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.db import unit_of_work
from core.settings import get_settings
from wechat.pay_crypto import (
    HEADER_SERIAL,
    HEADER_SIGNATURE,
    SIGNTEST_PREFIX,
    encrypt_resource,
    generate_private_key,
    sign_response,
    unix_now,
)
from wechat.sandbox import pay_faults
from wechat.sandbox.keys import SandboxKeys, sandbox_keys
from wechat.sandbox.pay_common import get_config, rfc3339
from wechat.sandbox.pay_models import PayNotify, PayNotifyAttempt

log = structlog.get_logger(__name__)

# WeChat's documented schedule after the first attempt fails (15 retries, about 24 h in all).
RETRY_SCHEDULE_SECONDS = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE_SECONDS)
# A claimed notify is invisible to other loops this long; a crash mid-delivery is retried after it.
LEASE = timedelta(seconds=60)
SEND_CONCURRENCY = 50
SUMMARIES = {
    "TRANSACTION.SUCCESS": "支付成功",
    "REFUND.SUCCESS": "退款成功",
    "REFUND.ABNORMAL": "退款异常",
    "REFUND.CLOSED": "退款关闭",
}


# --- building --------------------------------------------------------------------------------------


def build_envelope(
    event_type: str, original_type: str, resource_plain: dict[str, Any], apiv3_key: str
) -> tuple[str, str]:
    """WeChat's notify body: `{id, create_time, resource_type, event_type, summary, resource}`."""
    notify_id = str(uuid.uuid4())
    plaintext = json.dumps(resource_plain, ensure_ascii=False, separators=(",", ":"))
    envelope = {
        "id": notify_id,
        "create_time": rfc3339(clock.now()),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": SUMMARIES.get(event_type, event_type),
        "resource": encrypt_resource(plaintext, apiv3_key, associated_data=original_type, original_type=original_type),
    }
    return notify_id, json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


async def enqueue_notify(
    session: AsyncSession,
    *,
    event_type: str,
    original_type: str,
    resource_plain: dict[str, Any],
    notify_url: str,
    out_trade_no: str,
    out_refund_no: str | None = None,
) -> PayNotify:
    """A durable row, written in the caller's transaction: the notify exists iff the state change does."""
    consumed = await pay_faults.consume(session, "notify", out_trade_no=out_trade_no, event_type=event_type)
    faults = consumed.faults
    now = clock.now()
    notify_id, body = build_envelope(event_type, original_type, resource_plain, get_settings().wechatpay_apiv3_key)
    duplicate = faults.get("duplicate")
    row = PayNotify(
        notify_id=notify_id,
        event_type=event_type,
        out_trade_no=out_trade_no,
        out_refund_no=out_refund_no,
        notify_url=notify_url,
        body=body,
        resource_plain=resource_plain,
        status="held" if consumed.hold_group else "pending",
        attempts=0,
        next_attempt_at=None
        if consumed.hold_group
        else now + timedelta(seconds=faults.get("delay", {}).get("seconds", 0)),
        faults=faults,
        copies_left=duplicate["copies"] if duplicate and not duplicate["concurrent"] else 0,
        hold_group=consumed.hold_group,
    )
    session.add(row)
    await session.flush()
    if consumed.release_group:
        await release_held(session, consumed.release_group)
    log.info("sandbox_notify_queued", event_type=event_type, out_trade_no=out_trade_no, faults=sorted(faults))
    return row


async def release_held(session: AsyncSession, group: str | None = None) -> int:
    """Make a reorder batch due, newest first (or every held notify when no group is named)."""
    query = select(PayNotify).where(PayNotify.status == "held").order_by(PayNotify.id.desc()).with_for_update()
    if group is not None:
        query = query.where(PayNotify.hold_group == group)
    rows = (await session.scalars(query)).all()
    now = clock.now()
    for position, row in enumerate(rows):
        row.status = "pending"
        # Staggered by a millisecond so the claim query (ordered by due time) hands them out reversed.
        row.next_attempt_at = now + timedelta(milliseconds=position)
        row.faults = {**row.faults, "reorder": {"position": position, "batch": len(rows)}}
    return len(rows)


# --- delivering ------------------------------------------------------------------------------------


@dataclass
class _Claimed:
    pk: int
    notify_id: str
    event_type: str
    url: str
    body: str
    attempt: int
    faults: dict[str, Any]
    copies_left: int
    resource_plain: dict[str, Any]


@dataclass
class _Sent:
    fault: str | None
    status_code: int | None
    error: str | None
    response_body: str | None
    ms: int


async def _claim(limit: int) -> list[_Claimed]:
    now = clock.now()
    async with unit_of_work() as session:
        rows = (
            await session.scalars(
                select(PayNotify)
                .where(PayNotify.status == "pending", PayNotify.next_attempt_at <= now)
                .order_by(PayNotify.next_attempt_at, PayNotify.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        claimed = []
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            claimed.append(
                _Claimed(
                    row.id,
                    row.notify_id,
                    row.event_type,
                    row.notify_url,
                    row.body,
                    row.attempts,
                    dict(row.faults),
                    row.copies_left,
                    dict(row.resource_plain),
                )
            )
        return claimed


@functools.cache
def _stranger_key() -> rsa.RSAPrivateKey:
    # A key WeChat never had: signatures made with it must fail verification at the merchant.
    return generate_private_key()


def _attempt_fault(faults: dict[str, Any], attempt: int) -> str | None:
    for kind in ("drop", *pay_faults.SIGNATURE_FAULTS):
        spec = faults.get(kind)
        if spec is None:
            continue
        limit = spec.get("attempts")
        if limit is None or attempt <= limit:
            return kind
    return None


def forge(
    fault: str | None, body: bytes, keys: SandboxKeys, faults: dict[str, Any], tampered: bytes
) -> tuple[bytes, dict[str, str]]:
    """Sign the body as WeChat would, then break it as the fault says (shared with API answers)."""
    if fault == "wrong_key":
        return body, sign_response(body, private_key=_stranger_key(), serial=keys.platform_serial)
    if fault == "stale_timestamp":
        ts = unix_now() - int(faults.get("stale_timestamp", {}).get("seconds", 600))
        return body, sign_response(body, private_key=keys.platform_private, serial=keys.platform_serial, timestamp=ts)
    headers = sign_response(body, private_key=keys.platform_private, serial=keys.platform_serial)
    if fault == "tamper":
        return tampered, headers  # signed over the original, sent with different bytes
    if fault == "signtest":
        headers[HEADER_SIGNATURE] = SIGNTEST_PREFIX + base64.b64encode(secrets.token_bytes(192)).decode()
    elif fault == "unknown_serial":
        headers[HEADER_SERIAL] = "PUB_KEY_ID_UNKNOWN" + secrets.token_hex(8).upper()
    return body, headers


def _tampered_notify(claimed: _Claimed) -> bytes:
    # A plausible forgery: same envelope, a resource claiming one more fen, encrypted with the real key.
    envelope = json.loads(claimed.body)
    plain = dict(claimed.resource_plain)
    if isinstance(plain.get("amount"), dict):
        amount = dict(plain["amount"])
        for key in ("total", "payer_total", "refund", "payer_refund"):
            if isinstance(amount.get(key), int):
                amount[key] += 1
        plain["amount"] = amount
    original = envelope["resource"]["original_type"]
    envelope["resource"] = encrypt_resource(
        json.dumps(plain, ensure_ascii=False, separators=(",", ":")),
        get_settings().wechatpay_apiv3_key,
        associated_data=original,
        original_type=original,
    )
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


async def _post(client: httpx.AsyncClient, claimed: _Claimed, fault: str | None, keys: SandboxKeys) -> _Sent:
    body = claimed.body.encode()
    tampered = _tampered_notify(claimed) if fault == "tamper" else body
    content, headers = forge(fault, body, keys, claimed.faults, tampered)
    headers["Content-Type"] = "application/json"
    headers["User-Agent"] = "Mozilla/4.0"
    started = time.perf_counter()
    try:
        resp = await client.post(claimed.url, content=content, headers=headers)
    except httpx.HTTPError as exc:
        return _Sent(
            fault, None, f"{type(exc).__name__}: {exc}"[:300], None, int((time.perf_counter() - started) * 1000)
        )
    return _Sent(fault, resp.status_code, None, resp.text[:500], int((time.perf_counter() - started) * 1000))


def _ok(sent: _Sent) -> bool:
    # WeChat takes 200 or 204 as received; anything else (or no answer in time) is retried.
    return sent.status_code in (200, 204)


async def _deliver_one(client: httpx.AsyncClient, claimed: _Claimed, keys: SandboxKeys, factor: float) -> None:
    fault = _attempt_fault(claimed.faults, claimed.attempt)
    duplicate = claimed.faults.get("duplicate")
    sends: list[_Sent]
    if fault == "drop":
        sends = [_Sent("drop", None, "dropped by a fault knob", None, 0)]
    elif duplicate and duplicate.get("concurrent") and claimed.attempt == 1:
        copies = 1 + int(duplicate["copies"])
        sends = list(await asyncio.gather(*(_post(client, claimed, fault, keys) for _ in range(copies))))
        for s in sends:
            s.fault = s.fault or "duplicate"
    else:
        sends = [await _post(client, claimed, fault, keys)]
        if duplicate and claimed.copies_left < duplicate["copies"] and fault is None:
            sends[0].fault = "duplicate"  # a copy of a notify the merchant already acknowledged
    success = any(_ok(s) for s in sends)
    now = clock.now()
    values: dict[str, Any] = {"last_status_code": sends[-1].status_code, "last_error": sends[-1].error}
    if success and claimed.copies_left > 0:
        values.update(status="pending", copies_left=claimed.copies_left - 1, next_attempt_at=now)
    elif success:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
    elif fault == "drop" and claimed.faults["drop"].get("attempts") is None:
        values.update(status="dropped", next_attempt_at=None)
    elif claimed.attempt >= MAX_ATTEMPTS:
        values.update(status="failed", next_attempt_at=None)
    else:
        delay = RETRY_SCHEDULE_SECONDS[claimed.attempt - 1] * factor
        values.update(next_attempt_at=now + timedelta(seconds=delay))
    async with unit_of_work() as session:
        await session.execute(update(PayNotify).where(PayNotify.id == claimed.pk).values(**values))
        session.add_all(
            PayNotifyAttempt(
                notify_pk=claimed.pk,
                attempt=claimed.attempt,
                fault=s.fault,
                status_code=s.status_code,
                error=s.error,
                response_body=s.response_body,
                duration_ms=s.ms,
                at=now,
            )
            for s in sends
        )
    log.info(
        "sandbox_notify_attempt",
        notify_id=claimed.notify_id,
        event_type=claimed.event_type,
        attempt=claimed.attempt,
        status=[s.status_code for s in sends],
        fault=fault,
        result=values.get("status", "retry"),
    )


async def deliver_due_notifies(*, limit: int = 100, client: httpx.AsyncClient | None = None) -> int:
    """One pass: settle due refunds, then send every due notify once. Returns how many were sent."""
    from wechat.sandbox.pay_refunds import settle_due_refunds  # refunds enqueue notifies: import late

    async with unit_of_work() as session:
        await settle_due_refunds(session)
        config = await get_config(session)
    claimed = await _claim(limit)
    if not claimed:
        return 0
    keys = sandbox_keys()
    factor = float(config["retry_time_factor"])
    own_client = client is None
    if client is None:
        client = notify_http_client(float(config["notify_timeout_seconds"]))
    try:
        # A reorder batch must arrive in the order it was released; everything else goes out in parallel.
        ordered = [c for c in claimed if "reorder" in c.faults]
        for c in ordered:
            await _deliver_one(client, c, keys, factor)
        gate = asyncio.Semaphore(SEND_CONCURRENCY)

        async def gated(c: _Claimed) -> None:
            async with gate:
                await _deliver_one(client, c, keys, factor)

        await asyncio.gather(*(gated(c) for c in claimed if "reorder" not in c.faults))
    finally:
        if own_client:
            await client.aclose()
    return len(claimed)


def notify_http_client(timeout: float = 5.0) -> httpx.AsyncClient:
    # trust_env=False: notify URLs are the merchant's own; a developer's HTTP proxy must not intercept them.
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False, follow_redirects=False)
