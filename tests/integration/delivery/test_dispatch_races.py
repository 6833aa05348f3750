"""Races: ten stores claim at once, a claim meets the deadline timer, a worker dies mid-dispatch."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from core import clock, jobs
from core.db import unit_of_work
from delivery.claim_offer import claim_offer
from delivery.errors import OfferClosed
from delivery.expire_offers import expire_ring
from delivery.settings import override_dispatch_settings
from delivery.start_dispatch import START_JOB, start_dispatch
from tests.conftest import ROOT
from tests.integration.delivery.city import (
    build_city,
    dispatch_row,
    kinds,
    offers,
    order_status,
    paid_urgent_order,
    rows,
    scalar,
)
from tests.integration.orders.factories import level


async def test_ten_stores_claim_at_once_exactly_one_wins(client: httpx.AsyncClient) -> None:
    override_dispatch_settings(ring_sizes=(10, 5, 8))
    city = await build_city(distances=[150 * (i + 1) for i in range(10)])
    order_id = await paid_urgent_order(city)
    ring1 = await offers(order_id)
    assert len(ring1) == 10

    async def claim(offer_id: int, store_id: int) -> httpx.Response:
        return await client.post(f"/api/staff/offers/{offer_id}/claim", headers=city.staff[store_id][1])

    answers = await asyncio.gather(*(claim(o.id, o.store_id) for o in ring1))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [409] * 9, [r.text for r in answers]
    losers = [r.json() for r in answers if r.status_code == 409]
    assert all("already taken" in body["detail"] for body in losers), losers
    winner = next(r.json() for r in answers if r.status_code == 200)
    states = [o.status for o in await offers(order_id)]
    assert states.count("accepted") == 1 and states.count("withdrawn") == 9
    d = await dispatch_row(order_id)
    assert d.status == "accepted" and d.accepted_store_id == winner["store_id"]
    assert await order_status(order_id) == "accepted"
    assert await level(winner["store_id"], city.sku_id) == (20, 1)
    held = await scalar("SELECT sum(reserved) FROM stock_levels WHERE sku_id = :k", k=city.sku_id)
    assert held == 1  # one unit held, once, at the winner
    assert (await kinds(order_id)).count("offer_claimed") == 1


async def test_claim_holding_the_lock_beats_the_deadline_timer(clean: None) -> None:
    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city)
    first = (await offers(order_id))[0]
    clock.freeze(first.deadline_at - timedelta(seconds=1))
    async with unit_of_work() as claiming:
        await claim_offer(claiming, first.id, actor="user:1")
        clock.freeze(first.deadline_at)  # the timer fires while the claim is still committing

        async def timer() -> str:
            async with unit_of_work() as s:
                return await expire_ring(s, (await dispatch_row(order_id)).id, 1)

        fired = asyncio.create_task(timer())
        await asyncio.sleep(0.3)
        assert not fired.done()  # it waits for the dispatch's lock
    assert await fired == "settled"
    assert [o.status for o in await offers(order_id)] == ["accepted", "withdrawn", "withdrawn"]
    assert await order_status(order_id) == "accepted"


async def test_deadline_timer_holding_the_lock_beats_a_late_claim(clean: None) -> None:
    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city)
    first = (await offers(order_id))[0]
    d_id = (await dispatch_row(order_id)).id
    clock.freeze(first.deadline_at)
    async with unit_of_work() as timer:
        assert await expire_ring(timer, d_id, 1) == "offered"
        clock.freeze(first.deadline_at - timedelta(milliseconds=500))  # a claim sent just before the deadline

        async def claim() -> None:
            async with unit_of_work() as s:
                await claim_offer(s, first.id, actor="user:1")

        late = asyncio.create_task(claim())
        await asyncio.sleep(0.3)
        assert not late.done()
    with pytest.raises(OfferClosed, match="expired"):
        await late
    states = [(o.ring, o.status) for o in await offers(order_id)]
    assert states[:3] == [(1, "expired")] * 3
    assert {s for r, s in states[3:]} == {"open"} and {r for r, _ in states[3:]} == {2}
    assert await order_status(order_id) == "dispatching"


async def test_dispatch_job_run_twice_or_taken_over_makes_no_duplicate_offers(clean: None) -> None:
    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city, start=False)
    # A worker claims the start job and dies before finishing: its lease runs out, another takes it.
    claimed = await jobs.claim(10, "worker-that-dies")
    assert [r.kind for r in claimed] == [START_JOB]
    clock.advance(120)
    await jobs.run_due_jobs(worker="worker-2")
    assert len(await offers(order_id)) == 3
    # At-least-once: the handler runs again (a retry after a lost commit acknowledgement): nothing new.
    async with unit_of_work() as s:
        assert await start_dispatch(s, (await dispatch_row(order_id)).id) == "already_started"
    assert len(await offers(order_id)) == 3
    assert (await kinds(order_id)).count("offer_sent") == 3


_SLOW_WORKER = """
import asyncio, os, pathlib
import delivery.widen_ring as ring
import delivery.start_dispatch as start

real = ring.offer_next_ring

async def offer_then_hang(session, d, *, reason):
    outcome = await real(session, d, reason=reason)
    await session.flush()  # the offers are written, not committed
    marker = pathlib.Path(os.environ["DISPATCH_TEST_MARKER"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        await asyncio.sleep(300)
    return outcome

start.offer_next_ring = offer_then_hang
from core.cli import main
main(["worker", "--concurrency", "2"])
"""


async def test_worker_killed_mid_dispatch_is_taken_over_without_duplicate_offers(clean: None, tmp_path: Path) -> None:
    city = await build_city()
    order_id = await paid_urgent_order(city, start=False)
    marker = tmp_path / "offers-written"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "JOB_LEASE_SECONDS": "2",
        "DISPATCH_NOTIFY_STAFF": "false",
        "DISPATCH_TEST_MARKER": str(marker),
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WORKER], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(400):
            if marker.exists():
                break
            await asyncio.sleep(0.05)
        assert marker.exists(), "the worker never reached the offers"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    # The dead worker's transaction died with it: no offers, the order still paid, the job still leased.
    assert await offers(order_id) == []
    assert await order_status(order_id) == "paid"
    await asyncio.sleep(2.5)  # the lease runs out
    await jobs.run_due_jobs(worker="restarted")
    ring1 = await offers(order_id)
    assert [o.store_id for o in ring1] == city.stores[:3]
    assert await order_status(order_id) == "dispatching"
    [job] = await rows("SELECT status, attempts FROM jobs WHERE kind = :k", k=START_JOB)
    assert tuple(job) == ("done", 2)
