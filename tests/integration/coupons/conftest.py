"""Coupon tests on orders watch shop and orders alone (payments/delivery/engage handlers set aside), like the
order tests; the sandbox flow test opts back in with `all_handlers`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

OWN = ("orders", "shop", "core", "tests")


@pytest.fixture(autouse=True)
def no_sold_out_memo() -> None:
    """Template ids restart after each test's TRUNCATE: forget which ones this process saw sold out."""
    from shop.coupons.claim_coupon import forget_sold_out

    forget_sold_out()


@pytest.fixture
async def own_handlers(database: str, app) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    from core import events

    if not getattr(app.state, "o2o_started", False):
        for hook in app.on_startup:
            result = hook()
            if asyncio.iscoroutine(result):
                await result
        app.state.o2o_started = True
    saved = {k: list(v) for k, v in events._handlers.items()}
    for handlers in events._handlers.values():
        handlers[:] = [h for h in handlers if h.__module__.split(".")[0] in OWN]
    yield
    events._handlers.clear()
    events._handlers.update(saved)


# The sandbox helpers of the engage tests (the customer's WeChat, admin tokens).
from tests.integration.engage.conftest import admin, api, app_http  # noqa: E402, F401
