"""Sandbox Pay background loop: settles refunds and delivers due notifies; the app's start/stop hooks."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from core.db import unit_of_work
from wechat.sandbox.keys import sandbox_keys
from wechat.sandbox.pay_common import get_config
from wechat.sandbox.pay_notify import deliver_due_notifies, notify_http_client

log = structlog.get_logger(__name__)


# Per event loop: a test client may run the app's lifespan in a loop of its own (another thread).
_wakes: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}


def wake_notify_loop() -> None:
    """Tell this process's loop that something is due now (after a commit), instead of waiting a tick."""
    try:
        wake = _wakes.get(asyncio.get_running_loop())
    except RuntimeError:
        return
    if wake is not None:
        wake.set()


async def run_notify_loop(stop_event: asyncio.Event, *, interval: float = 0.2) -> None:
    """Deliver due notifies (and settle refunds) until stop_event is set; safe to run in several processes."""
    loop = asyncio.get_running_loop()
    wake = _wakes[loop] = asyncio.Event()
    timeout = 5.0
    client = notify_http_client(timeout)
    try:
        while not stop_event.is_set():
            sent = 0
            try:
                async with unit_of_work() as session:
                    wanted = float((await get_config(session))["notify_timeout_seconds"])
                if wanted != timeout:
                    await client.aclose()
                    timeout, client = wanted, notify_http_client(wanted)
                sent = await deliver_due_notifies(client=client)
            except Exception:
                log.exception("sandbox_notify_loop_error")
                await _sleep_or_stop(stop_event, wake, 1.0)
            if sent == 0:
                await _sleep_or_stop(stop_event, wake, interval)
    finally:
        if _wakes.get(loop) is wake:
            del _wakes[loop]
        await client.aclose()


async def _sleep_or_stop(stop_event: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop_event.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        wake.clear()


class _Running:
    def __init__(self, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self.task = task
        self.stop = stop
        self.users = 0


_running: dict[asyncio.AbstractEventLoop, _Running] = {}


async def start_pay_sandbox() -> None:
    """App startup hook: make sure the keys exist and the notify loop runs (once per event loop, however often called)."""
    await asyncio.to_thread(sandbox_keys)
    loop = asyncio.get_running_loop()
    running = _running.get(loop)
    if running is None or running.task.done():
        stop = asyncio.Event()
        task = asyncio.create_task(run_notify_loop(stop), name="sandbox-pay-notify-loop")
        running = _running[loop] = _Running(task, stop)
    running.users += 1


async def stop_pay_sandbox() -> None:
    """App shutdown hook; the loop stops when the last app that started it (in this event loop) stops."""
    loop = asyncio.get_running_loop()
    running = _running.get(loop)
    if running is None:
        return
    running.users -= 1
    if running.users > 0:
        return
    del _running[loop]
    running.stop.set()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(running.task, timeout=10)
