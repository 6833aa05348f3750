"""Job handlers used by the job tests (imported by the test process and by worker subprocesses)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.jobs import job_handler

EFFECTS_DDL = (
    "CREATE TABLE IF NOT EXISTS test_job_effects ("
    " id bigserial PRIMARY KEY, job_key text NOT NULL, worker text, started_at timestamptz DEFAULT clock_timestamp(),"
    " finished_at timestamptz)"
)


async def record(session: AsyncSession, key: str, worker: str | None = None) -> None:
    await session.execute(
        text("INSERT INTO test_job_effects (job_key, worker) VALUES (:k, :w)"),
        {"k": key, "w": worker or str(os.getpid())},
    )


@job_handler("test.record")
async def record_effect(session: AsyncSession, payload: dict[str, Any]) -> None:
    await record(session, payload["key"], payload.get("worker"))
    if payload.get("sleep"):
        await asyncio.sleep(float(payload["sleep"]))


@job_handler("test.slow_once")
async def slow_once(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Writes its effect, then hangs on its first run only (the test kills that worker)."""
    await record(session, payload["key"])
    await session.flush()
    marker = Path(payload["marker"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        await asyncio.sleep(120)


@job_handler("test.fail")
async def always_fail(session: AsyncSession, payload: dict[str, Any]) -> None:
    await record(session, payload["key"])  # rolled back with the failure
    raise RuntimeError(f"planned failure for {payload['key']}")
