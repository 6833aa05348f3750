"""Customer messages through the outbox: a row written in the business transaction (skipped at once when
WeChat would refuse it: not following, or outside the 48 h customer-service window), sent by the worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from engage.accounts import account_by_id, client_for
from engage.models import Follower, Outbound, TemplateSetting
from wechat.errors import AccessTokenError, WeChatAPIError, WeChatTransportError
from wechat.official import OfficialAccount as WeChatClient

log = structlog.get_logger(__name__)

SEND_JOB = "engage.send"
CUSTOMER_SERVICE_WINDOW = timedelta(hours=48)
# errcodes worth retrying later: system busy, API call frequency/quota reached.
TRANSIENT_ERRCODES = frozenset({-1, 45009, 45011, 45047})
OUTSIDE_WINDOW = "outside WeChat's 48-hour customer-service window"
NOT_FOLLOWING = "the customer does not follow the account"


def window_open(follower: Follower | None, now: datetime | None = None) -> bool:
    """May a customer-service message be sent now (following, and acted within 48 h)?"""
    if follower is None or not follower.subscribed or follower.last_interaction_at is None:
        return False
    return (now or clock.now()) - follower.last_interaction_at <= CUSTOMER_SERVICE_WINDOW


async def template_for(session: AsyncSession, account_id: int, purpose: str) -> str | None:
    return await session.scalar(
        select(TemplateSetting.template_id).where(
            TemplateSetting.account_id == account_id, TemplateSetting.purpose == purpose
        )
    )


async def _queue(
    session: AsyncSession,
    *,
    account_id: int,
    customer_id: int | None,
    openid: str,
    channel: str,
    purpose: str,
    body: dict[str, Any],
    ref: str,
    dedupe_key: str | None,
    skip_reason: str | None,
    created_by: int | None,
    push_id: int | None = None,
) -> int | None:
    """Insert the row (a repeat of a dedupe_key is a no-op) and, when it is to be sent, its send job."""
    now = clock.now()
    stmt = (
        pg_insert(Outbound)
        .values(
            account_id=account_id,
            customer_id=customer_id,
            openid=openid,
            channel=channel,
            purpose=purpose,
            ref=ref[:64],
            push_id=push_id,
            dedupe_key=dedupe_key,
            body=body,
            status="skipped" if skip_reason else "queued",
            attempts=0,
            error=skip_reason,
            created_by=created_by,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Outbound.dedupe_key])
        .returning(Outbound.id)
    )
    outbound_id = await session.scalar(stmt)
    if outbound_id is None:
        return None
    if skip_reason:
        log.info("customer_message_skipped", outbound_id=outbound_id, purpose=purpose, reason=skip_reason)
    elif push_id is None:  # a push's rows are sent in batches by its own job
        await jobs.enqueue(session, SEND_JOB, {"outbound_id": outbound_id}, dedupe_key=f"{SEND_JOB}:{outbound_id}")
    return outbound_id


async def queue_custom(
    session: AsyncSession,
    follower: Follower | None,
    message: dict[str, Any],
    *,
    account_id: int,
    customer_id: int | None,
    openid: str,
    purpose: str,
    ref: str = "",
    dedupe_key: str | None = None,
    created_by: int | None = None,
) -> int | None:
    """A customer-service message ({"msgtype": "text", "text": {...}}), skipped when the window is closed."""
    skip = None
    if not window_open(follower):
        skip = NOT_FOLLOWING if follower is None or not follower.subscribed else OUTSIDE_WINDOW
    return await _queue(
        session,
        account_id=account_id,
        customer_id=customer_id,
        openid=openid,
        channel="custom",
        purpose=purpose,
        body=message,
        ref=ref,
        dedupe_key=dedupe_key,
        skip_reason=skip,
        created_by=created_by,
    )


async def queue_template(
    session: AsyncSession,
    follower: Follower | None,
    template_id: str,
    data: dict[str, Any],
    *,
    account_id: int,
    customer_id: int | None,
    openid: str,
    purpose: str,
    url: str | None = None,
    ref: str = "",
    dedupe_key: str | None = None,
    created_by: int | None = None,
) -> int | None:
    """A template message: any time, to a customer who follows the account."""
    body: dict[str, Any] = {"template_id": template_id, "data": data}
    if url:
        body["url"] = url
    skip = None if follower is not None and follower.subscribed else NOT_FOLLOWING
    return await _queue(
        session,
        account_id=account_id,
        customer_id=customer_id,
        openid=openid,
        channel="template",
        purpose=purpose,
        body=body,
        ref=ref,
        dedupe_key=dedupe_key,
        skip_reason=skip,
        created_by=created_by,
    )


# --- sending (the worker) ---------------------------------------------------------------------------------


class RetryLater(Exception):
    """WeChat could not take the message now (transport, busy, frequency limit): the job retries."""


@dataclass(frozen=True)
class SendResult:
    status: str  # sent | failed | retry
    msgid: int | None = None
    error: str | None = None


async def send_one(client: WeChatClient, row: Outbound) -> SendResult:
    """One WeChat call for a row (no database work: a push sends many of these at once)."""
    try:
        if row.channel == "template":
            msgid = await client.send_template(
                row.openid,
                row.body["template_id"],
                row.body.get("data") or {},
                url=row.body.get("url"),
                client_msg_id=f"o2o-{row.id}",  # a retried send is not shown twice
            )
            return SendResult("sent", msgid=msgid)
        msgtype = row.body["msgtype"]
        await client.send_custom(row.openid, msgtype, row.body[msgtype])
        return SendResult("sent")
    except AccessTokenError as exc:
        return SendResult("retry", error=str(exc)[:500])
    except WeChatAPIError as exc:
        if exc.errcode in TRANSIENT_ERRCODES:
            return SendResult("retry", error=str(exc)[:500])
        return SendResult("failed", error=str(exc)[:500])
    except WeChatTransportError as exc:  # WeChat unreachable or slow
        return SendResult("retry", error=str(exc)[:500])


def apply_result(row: Outbound, result: SendResult) -> None:
    row.attempts += 1
    if result.status == "sent":
        row.status, row.sent_at, row.error, row.msgid = "sent", clock.now(), None, result.msgid
        log.info("customer_message_sent", outbound_id=row.id, purpose=row.purpose, channel=row.channel, ref=row.ref)
    elif result.status == "failed":
        row.status, row.error = "failed", result.error
        log.warning("customer_message_failed", outbound_id=row.id, purpose=row.purpose, error=result.error)
    else:
        row.error = result.error


async def send_outbound(session: AsyncSession, outbound_id: int) -> None:
    """The `engage.send` job: a retry re-raises so the worker backs off; a refusal is recorded, not retried."""
    row = await session.scalar(select(Outbound).where(Outbound.id == outbound_id).with_for_update())
    if row is None or row.status != "queued":
        return
    account = await account_by_id(session, row.account_id)
    result = await send_one(client_for(account), row)
    if result.status == "retry":
        raise RetryLater(result.error or "WeChat could not take the message now")
    apply_result(row, result)
