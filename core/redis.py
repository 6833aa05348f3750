"""Redis: one shared asyncio client. A fast path only; nothing lives here that PostgreSQL does not also hold."""

from __future__ import annotations

import redis.asyncio as aioredis

from core.settings import get_settings

_client: aioredis.Redis | None = None


def get_redis() -> aioredis.Redis:
    global _client
    if _client is None:
        url = get_settings().redis_url
        if not url:
            raise RuntimeError("REDIS_URL is not set and no embedded Redis was started")
        _client = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            socket_connect_timeout=0.5,
            socket_timeout=1.0,
            health_check_interval=30,
            max_connections=512,
        )
    return _client


async def close_redis() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
    _client = None


async def redis_ok() -> bool:
    try:
        return bool(await get_redis().ping())
    except Exception:
        return False
