"""Race helpers in the style of Saleor's tests/race_condition.py, for async code and real transactions.

RunBefore(target, callback): on the first call of the async function at `target`, await `callback(*args)`
before it runs (the callback typically completes a competing use case in its own transaction).
RunAfter(target, callback): the same, right after it returned, while its transaction is still open
(the callback typically starts a competing use case that must wait for this transaction's row locks).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any
from unittest.mock import patch

from sqlalchemy import text

from core.db import unit_of_work

Callback = Callable[..., Awaitable[Any]]

# Sessions of this test's database waiting for a lock (the xdist workers share the server: counting theirs
# made a waiter that finished elsewhere hide ours).
LOCK_WAITERS = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"


class _Trigger:
    def __init__(self, target: str, callback: Callback) -> None:
        self.target = target
        self.callback = callback
        self.called = False
        self._patch: Any = None

    def __enter__(self) -> _Trigger:
        self._patch = patch(self.target)
        original, _ = self._patch.get_original()

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.called:
                return await original(*args, **kwargs)
            self.called = True
            return await self.run(original, *args, **kwargs)

        self._patch.new = wrapper
        self._patch.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._patch.__exit__(*exc)

    async def run(self, original: Callback, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


class RunBefore(_Trigger):
    async def run(self, original: Callback, *args: Any, **kwargs: Any) -> Any:
        await self.callback(*args, **kwargs)
        return await original(*args, **kwargs)


class RunAfter(_Trigger):
    async def run(self, original: Callback, *args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        await self.callback(*args, **kwargs)
        return result


async def start_blocked(work: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> asyncio.Task[Any]:
    """Start `work` in the background and return once it waits for a row lock (or has finished)."""
    async with unit_of_work() as s:
        before = await s.scalar(text(LOCK_WAITERS))
    task = asyncio.create_task(work())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and not task.done():
        async with unit_of_work() as s:
            waiting = await s.scalar(text(LOCK_WAITERS))
        if waiting > before:
            return task
        await asyncio.sleep(0.01)
    if not task.done():
        raise AssertionError("the competing transaction neither finished nor waited for a lock")
    return task
