"""Scale-out: two `o2o serve` processes (customers spread over them, as behind a load balancer) and three
`o2o worker` processes on one PostgreSQL and one Redis; 50 concurrent customers order, pay and get dispatched
while two staff consoles, one on each web process, race to claim. Then: no job ran twice, every offer was sent
once and its WeCom card once, and the live (SSE) updates reached the staff on either web process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.cluster import Cluster
from tests.reliability.conftest import assert_invariants, running_cluster, until
from tests.reliability.flow import Wave

CUSTOMERS = 50


@pytest.fixture(scope="module")
async def cluster(cluster_dir: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(cluster_dir, webs=2, workers=3, customers=CUSTOMERS) as c:
        yield c


async def listen(url: str, headers: dict[str, str], events: list[dict[str, Any]], ready: asyncio.Event) -> None:
    """A staff console's live stream: collects every event until cancelled."""
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
        client.stream("GET", url + "/api/staff/offers/stream", headers=headers) as r,
    ):
        assert r.status_code == 200
        kind = ""
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
                if kind == "hello":
                    ready.set()
            elif line.startswith("data:") and kind not in ("hello", ""):
                events.append({"event": kind, **json.loads(line.split(":", 1)[1])})


async def test_two_web_processes_three_workers_nothing_twice_and_live_updates_everywhere(cluster: Cluster) -> None:
    assert cluster.world is not None
    wave = Wave(cluster, cluster.world, "scale", customers=CUSTOMERS)
    staff = cluster.staff_headers(cluster.world.staff_user)
    streams: list[list[dict[str, Any]]] = [[], []]
    ready = [asyncio.Event(), asyncio.Event()]
    listeners = [asyncio.create_task(listen(str(cluster.web(n).url), staff, streams[n], ready[n])) for n in range(2)]
    stop = asyncio.Event()
    bots = [asyncio.create_task(wave.staff_bot(stop, web=n)) for n in range(2)]
    try:
        await until(lambda: all(e.is_set() for e in ready), what="both consoles to be connected")
        await wave.run_customers()
        await wave.fire_deadlines()
        await wave.wait_settled()
        offers = {r[0] for r in await cluster.sql("SELECT id FROM dispatch_offers WHERE ring > 0")}

        def streamed(n: int) -> set[int]:
            return {e["offer_id"] for e in streams[n] if e["event"] == "offer"}

        await until(lambda: streamed(0) == offers == streamed(1), timeout=20, what="every offer on both consoles")
    finally:
        stop.set()
        for task in [*listeners, *bots]:
            task.cancel()
        for task in [*listeners, *bots]:
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await task
    assert wave.unexpected == [], wave.unexpected[:5]
    # The work was shared, and no job ran twice.
    workers = await cluster.sql("SELECT DISTINCT split_part(locked_by, ':', 2) FROM jobs WHERE status = 'done'")
    assert len(workers) >= 2, "the jobs should have been spread over the workers"
    assert await cluster.val("SELECT count(*) FROM jobs WHERE status = 'done' AND attempts > 1") == 0
    # Each offer sent once (one offer_sent event per offer), each WeCom card once.
    assert (
        await cluster.val(
            "SELECT count(*) FROM (SELECT offer_id FROM dispatch_events WHERE kind = 'offer_sent' "
            "GROUP BY offer_id HAVING count(*) > 1) d"
        )
        == 0
    )
    cards = await cluster.sql(
        "SELECT touser, body::text FROM sandbox.wecom_messages WHERE msgtype = 'textcard'", wechat=True
    )
    # One card per outbox job (each job has one recipient here: the staff user of every store), none twice.
    sent_by_jobs = await cluster.val("SELECT count(*) FROM jobs WHERE kind = 'delivery.wecom_card' AND status = 'done'")
    assert len(cards) == sent_by_jobs > 0
    offer_cards = [body for _, body in cards if "?offer=" in body]
    assert len(offer_cards) == len(offers)
    # Both consoles claimed, the database let one claim per order win.
    assert all(n == 1 for n in wave.claims.values())
    await assert_invariants(cluster)
