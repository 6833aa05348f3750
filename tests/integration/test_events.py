"""Domain events: handlers run in the publisher's transaction and roll back with it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core import events, jobs
from core.db import sessionmaker, unit_of_work


@pytest.fixture
def handler_calls():  # type: ignore[no-untyped-def]
    calls: list[int] = []

    async def on_paid(session, event: events.OrderDelivered) -> None:  # type: ignore[no-untyped-def]
        calls.append(event.order_id)
        await jobs.enqueue(session, "test.record", {"key": f"delivered-{event.order_id}"})

    events.subscribe(events.OrderDelivered, on_paid)
    yield calls
    events._handlers[events.OrderDelivered].remove(on_paid)


async def count_jobs() -> int:
    async with sessionmaker()() as s:
        return int((await s.execute(text("SELECT count(*) FROM jobs"))).scalar_one())


async def test_handler_effects_commit_with_the_publisher(clean: None, handler_calls: list[int]) -> None:
    async with unit_of_work() as s:
        await events.publish(s, events.OrderDelivered(order_id=7))
    assert handler_calls == [7]
    assert await count_jobs() == 1


async def test_handler_effects_roll_back_with_the_publisher(clean: None, handler_calls: list[int]) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work() as s:
            await events.publish(s, events.OrderDelivered(order_id=8))
            raise RuntimeError("later step failed")
    assert handler_calls == [8]
    assert await count_jobs() == 0
