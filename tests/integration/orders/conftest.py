"""Order tests watch the orders domain alone: other domains' event handlers (payments, delivery, engage)
are set aside for each test, so a published OrderCancelled or PaymentDeadlineReached is observed, not
acted on by code whose own tests cover it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

OWN = ("orders", "shop", "core", "tests")


@pytest.fixture(autouse=True)
async def orders_handlers_only(database: str, app) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    from core import events

    # Start the app once first, so its start-up (which registers every domain's handlers) has happened.
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
