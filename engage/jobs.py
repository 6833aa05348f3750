"""Engage's background work: sending customer messages, deferred answers, menu publication, QR codes, pushes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.jobs import job_handler
from engage.accounts import account_by_id
from engage.answer_message import answer_message
from engage.conversation import build_context
from engage.handle_message import ANSWER_LATER_JOB, record_answer
from engage.models import InboundMessage
from engage.outbox import SEND_JOB, send_outbound
from engage.publish_menu import PUBLISH_JOB, run_publish
from engage.qr_codes import STORE_QR_JOB, ensure_qr_code
from engage.send_push import EXPAND_JOB, expand_push, send_push_batch
from engage.send_push import SEND_JOB as SEND_PUSH_JOB


@job_handler(SEND_JOB)
async def send_customer_message(session: AsyncSession, payload: dict[str, Any]) -> None:
    await send_outbound(session, int(payload["outbound_id"]))


@job_handler(ANSWER_LATER_JOB)
async def answer_later(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A message whose answer did not fit WeChat's 5 s: answered now, as a customer-service message."""
    message = await session.scalar(
        select(InboundMessage).where(InboundMessage.id == int(payload["message_id"])).with_for_update()
    )
    if message is None or message.status != "deferred" or message.customer_id is None:
        return
    account = await account_by_id(session, message.account_id)
    ctx = build_context(
        message.fields,
        account_id=account.id,
        appid=account.appid,
        message_id=message.id,
        customer_id=message.customer_id,
    )
    answer = await answer_message(session, ctx)
    await record_answer(session, ctx, answer, as_custom=True)


@job_handler(PUBLISH_JOB)
async def publish_menu_job(session: AsyncSession, payload: dict[str, Any]) -> None:
    await run_publish(session, int(payload["account_id"]))


@job_handler(STORE_QR_JOB)
async def ensure_store_qr(session: AsyncSession, payload: dict[str, Any]) -> None:
    account = await account_by_id(session, int(payload["account_id"]))
    await ensure_qr_code(account, "store", store_id=int(payload["store_id"]))


@job_handler(EXPAND_JOB)
async def expand_push_job(session: AsyncSession, payload: dict[str, Any]) -> None:
    await expand_push(session, int(payload["push_id"]))


@job_handler(SEND_PUSH_JOB)
async def send_push_job(session: AsyncSession, payload: dict[str, Any]) -> None:
    await send_push_batch(session, int(payload["push_id"]), int(payload.get("round", 1)))
