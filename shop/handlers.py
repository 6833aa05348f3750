"""Shop lifecycle: job handlers at registration, the default account and the store mirror at start.

`register()` (sync) imports the job handlers and models. `on_startup()` upserts the default official
account from the WECHAT_* settings and rebuilds the Redis store mirror from PostgreSQL (it never fails
the start: Redis is a fast path only); `on_shutdown()` stops the catalogue cache listener before Redis
is closed. core.app runs both.
"""

from __future__ import annotations

import structlog

from shop.stores.mirror import rebuild_geo_index

log = structlog.get_logger(__name__)

__all__ = ["on_shutdown", "on_startup", "rebuild_geo_index", "register"]


def register() -> None:
    import shop.coupons.expire_coupons  # coupon expiry and reminder jobs
    import shop.jobs  # job handlers
    import shop.models  # noqa: F401 - every mapper configured before the first query
    from core.events import CustomerSubscribed, subscribe
    from shop.coupons.on_subscribe import issue_on_subscribe

    subscribe(CustomerSubscribed, issue_on_subscribe)


async def on_startup() -> None:
    from core.db import unit_of_work
    from shop.customers.services import upsert_default_account

    try:
        async with unit_of_work() as session:
            await upsert_default_account(session)
    except Exception as exc:  # the database may not be migrated yet in some tools; requests will say so
        log.warning("default_account_not_upserted", error=f"{type(exc).__name__}: {exc}"[:200])
    try:
        await rebuild_geo_index()
    except Exception as exc:
        log.warning("geo_index_not_rebuilt", error=f"{type(exc).__name__}: {exc}"[:200])


async def on_shutdown() -> None:
    """Bump what stock changes are pending, stop the catalogue cache's invalidation listener (before core
    closes the Redis client)."""
    from shop.catalogue import local_cache
    from shop.catalogue.cache import flush_stock_bumps

    await flush_stock_bumps()
    await local_cache.stop()
