"""Cache of rendered catalogue pages in Redis, with versioned keys so invalidation is never lost to a race.

A page key embeds the catalogue generation (bumped by product/SKU/category changes) and the store's
version (bumped by its prices, listings, stock and status). A reader takes both versions in the same
round trip as the page, and stores what it built under the versions it read: a page built from data
older than a change lands under a version that the change's bump has made unreachable. Bumps run after
the changing transaction commits; a failed bump is retried by a durable job. Redis down: no cache.
In front of Redis, each process keeps recent pages (local_cache), emptied by the bumps' messages.

Stock that orders move (reserve, release, sell, return) is bumped coalesced: a process bumps a store at
most once per STOCK_LAG seconds, always after the changes it covers committed, so the availability a
page shows is at most STOCK_LAG behind (it is advisory: the reservation decides). Bumping on every
order emptied the store's pages in every process hundreds of times a second under load. Prices,
listings, status and staff stock changes still bump at once. A process that dies holding a pending
bump leaves pages up to TTL_SECONDS old (the same as a lost bump of any kind).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from core.redis import get_redis
from shop.after_commit import after_commit
from shop.catalogue import local_cache

log = structlog.get_logger(__name__)

GEN_KEY = "shop:cat:gen"
PAGE_PREFIX = "shop:cat:page:"
TTL_SECONDS = 300
BUMP_JOB = "shop.bump_catalogue"

_GET = """
local g = redis.call('GET', KEYS[1]) or '0'
local v = redis.call('GET', KEYS[2]) or '0'
return {g, v, redis.call('GET', ARGV[1] .. g .. ':' .. v .. ':' .. ARGV[2])}
"""
_script = None


def store_version_key(store_id: int | None) -> str:
    return f"shop:cat:ver:{store_id or 0}"


def _get_script():  # type: ignore[no-untyped-def]
    global _script
    redis = get_redis()
    if _script is None or _script.registered_client is not redis:
        _script = redis.register_script(_GET)
    return _script


async def cached(store_id: int | None, signature: str, build: Callable[[], Awaitable[bytes]]) -> bytes:
    """The page for (store, signature): from this process, from Redis, or built (and cached under the
    versions read before building)."""
    key = (store_id, signature)
    hit = local_cache.get(key)
    if hit is not None:
        return hit
    taken = local_cache.token(store_id)
    body = await _cached_in_redis(store_id, signature, build)
    local_cache.put(key, body, taken)
    return body


async def _cached_in_redis(store_id: int | None, signature: str, build: Callable[[], Awaitable[bytes]]) -> bytes:
    versions: tuple[bytes, bytes] | None = None
    name = f"{store_id or 0}:{signature}"
    try:
        gen, ver, hit = await _get_script()(keys=[GEN_KEY, store_version_key(store_id)], args=[PAGE_PREFIX, name])
        if hit is not None:
            return bytes(hit)
        versions = (gen, ver)
    except RedisError as exc:
        log.warning("catalogue_cache_unavailable", error=type(exc).__name__)
    body = await build()
    if versions is not None:
        key = f"{PAGE_PREFIX}{versions[0].decode()}:{versions[1].decode()}:{name}"
        try:
            await get_redis().set(key, body, ex=TTL_SECONDS)
        except RedisError:
            pass
    return body


# Each invalidation: a new sequence number, the version bump, and a message carrying both (local_cache).
_BUMP = """
for i, target in ipairs(ARGV) do
  local seq = redis.call('INCR', KEYS[1])
  if target == 'all' then redis.call('INCR', KEYS[2]) else redis.call('INCR', 'shop:cat:ver:' .. target) end
  redis.call('PUBLISH', KEYS[3], seq .. ':' .. target)
end
return #ARGV
"""
_bump_script = None


async def bump(store_ids: list[int] | None) -> None:
    """Make cached pages unreachable: these stores' pages, or (None) every page."""
    global _bump_script
    redis = get_redis()
    if _bump_script is None or _bump_script.registered_client is not redis:
        _bump_script = redis.register_script(_BUMP)
    targets = ["all"] if store_ids is None else [str(int(i)) for i in store_ids]
    await _bump_script(keys=[local_cache.SEQ_KEY, GEN_KEY, local_cache.CHANNEL], args=targets)


async def _bump_or_schedule(store_ids: list[int] | None) -> None:
    try:
        await bump(store_ids)
        # This process need not wait for its own message: read-your-writes at once.
        for store_id in store_ids if store_ids is not None else [None]:
            local_cache.forget(store_id)
    except RedisError:
        from core import jobs
        from core.db import unit_of_work

        async with unit_of_work() as session:
            await jobs.enqueue(session, BUMP_JOB, {"store_ids": store_ids})
        log.warning("catalogue_cache_bump_deferred", store_ids=store_ids)


def mark_store_catalogue_changed(session: AsyncSession, store_id: int) -> None:
    """Call in a transaction that changes a store's prices, listings, stock or status."""
    after_commit(session, ("catver", store_id), lambda: _bump_or_schedule([store_id]))


STOCK_LAG = 1.0
_stock_pending: dict[int, asyncio.TimerHandle] = {}
_stock_tasks: set[asyncio.Task[None]] = set()


def _schedule_stock_bump(store_id: int) -> None:
    if store_id in _stock_pending:
        return  # the pending bump runs after this change committed: it covers it
    loop = asyncio.get_running_loop()
    _stock_pending[store_id] = loop.call_later(STOCK_LAG, _start_stock_bump, store_id)


def _start_stock_bump(store_id: int) -> None:
    # Taken off the pending list before bumping: a change committed from now on schedules its own.
    _stock_pending.pop(store_id, None)
    task = asyncio.get_running_loop().create_task(_bump_or_schedule([store_id]))
    _stock_tasks.add(task)
    task.add_done_callback(_stock_tasks.discard)


async def flush_stock_bumps() -> None:
    """Bump every pending store now and wait for it (shutdown, CLI exit, tests)."""
    for store_id, timer in list(_stock_pending.items()):
        timer.cancel()
        _start_stock_bump(store_id)
    while _stock_tasks:
        await asyncio.gather(*list(_stock_tasks), return_exceptions=True)


def mark_store_stock_changed(session: AsyncSession, store_id: int) -> None:
    """Call in a transaction where an order moves a store's stock: its pages change within STOCK_LAG."""

    async def schedule() -> None:
        _schedule_stock_bump(store_id)

    after_commit(session, ("stock", store_id), schedule)


def mark_catalogue_changed(session: AsyncSession) -> None:
    """Call in a transaction that changes products, SKUs or categories (every store's pages)."""
    after_commit(session, "catgen", lambda: _bump_or_schedule(None))
