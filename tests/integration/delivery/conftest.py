"""Dispatch tests watch dispatch with orders and shop under it: other domains' handlers (payments, engage)
are set aside unless a test is marked `full_stack`; thresholds reset after each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

OWN = ("orders", "shop", "core", "delivery", "tests")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "full_stack: keep every domain's event handlers (payments refunds, engage)")


@pytest.fixture(autouse=True)
async def dispatch_handlers_only(request: pytest.FixtureRequest, database: str, app) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    from core import events
    from delivery.settings import override_dispatch_settings, reset_dispatch_settings

    if not getattr(app.state, "o2o_started", False):
        for hook in app.on_startup:
            result = hook()
            if asyncio.iscoroutine(result):
                await result
        app.state.o2o_started = True
    saved = {k: list(v) for k, v in events._handlers.items()}
    if request.node.get_closest_marker("full_stack") is None:
        for handlers in events._handlers.values():
            handlers[:] = [h for h in handlers if h.__module__.split(".")[0] in OWN]
    reset_dispatch_settings()
    override_dispatch_settings(notify_staff=False)
    yield
    if "clean" in request.fixturenames:
        from tests.integration.delivery.replay import replay_mismatches

        assert await replay_mismatches() == [], "the timeline does not reconstruct every order"
    reset_dispatch_settings()
    events._handlers.clear()
    events._handlers.update(saved)
