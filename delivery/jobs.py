"""Dispatch's durable work: the first decision, ring deadlines, SLA checks, WeCom cards (the outbox)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.jobs import job_handler
from delivery.expire_offers import expire_ring
from delivery.notify_staff import WECOM_JOB, send_card
from delivery.start_dispatch import START_JOB, start_dispatch
from delivery.watch_sla import SLA_JOB, check_sla
from delivery.widen_ring import RING_JOB


@job_handler(START_JOB)
async def run_start_dispatch(session: AsyncSession, payload: dict[str, Any]) -> None:
    await start_dispatch(session, int(payload["dispatch_id"]))


@job_handler(RING_JOB)
async def run_ring_deadline(session: AsyncSession, payload: dict[str, Any]) -> None:
    await expire_ring(session, int(payload["dispatch_id"]), int(payload["ring"]))


@job_handler(SLA_JOB)
async def run_sla_check(session: AsyncSession, payload: dict[str, Any]) -> None:
    await check_sla(session, int(payload["dispatch_id"]), str(payload["check"]))


@job_handler(WECOM_JOB)
async def run_wecom_card(session: AsyncSession, payload: dict[str, Any]) -> None:
    await send_card(session, payload)
