"""Health and metrics endpoints: readiness (database, Redis), liveness, Prometheus."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import MediaType, Response, get
from sqlalchemy import text

from core import metrics
from core.db import get_engine
from core.redis import redis_ok


async def database_ok(timeout: float = 2.0) -> bool:
    async def probe() -> bool:
        async with get_engine().connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    try:
        return await asyncio.wait_for(probe(), timeout)
    except Exception:
        return False


@get("/health", summary="Readiness: database and Redis", tags=["ops"], cache=False)
async def health() -> Response[dict[str, Any]]:
    db, rd = await asyncio.gather(database_ok(), asyncio.wait_for(redis_ok(), 1.0))
    body = {"status": "ok", "database": "ok" if db else "down", "redis": "ok" if rd else "down"}
    if not db:
        body["status"] = "unavailable"
        body["detail"] = "the database is unavailable"
        return Response(body, status_code=503)
    if not rd:
        body["status"] = "degraded"
    return Response(body)


@get("/health/live", summary="Liveness: the process answers", tags=["ops"], cache=False)
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/metrics", summary="Prometheus metrics", tags=["ops"], media_type=MediaType.TEXT, include_in_schema=False)
async def prometheus() -> Response[bytes]:
    return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


ROUTES = [health, live, prometheus]
