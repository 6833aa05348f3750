"""Shop background work: re-sync the Redis store mirror and catalogue cache versions when Redis missed a change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.jobs import job_handler
from shop.catalogue import cache
from shop.stores import mirror


@job_handler(mirror.SYNC_JOB)
async def sync_geo(session: AsyncSession, payload: dict[str, Any]) -> None:
    # Reads PostgreSQL afresh: running it late or twice converges on the truth.
    await mirror.sync_stores(int(i) for i in payload.get("store_ids", []))


@job_handler(cache.BUMP_JOB)
async def bump_catalogue(session: AsyncSession, payload: dict[str, Any]) -> None:
    ids = payload.get("store_ids")
    await cache.bump([int(i) for i in ids] if ids is not None else None)
