"""Reliability suites share one helper: a module-scoped data dir for a cluster of real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.cluster import Cluster
from tests.reliability.flow import invariants


@pytest.fixture(scope="module")
def cluster_dir() -> Iterator[Path]:
    """Like `service_dir` (not tmp_path: PostgreSQL runs as its own user when we are root), for a module."""
    path = Path(os.environ["O2O_DATA_DIR"]) / f"cluster-{uuid.uuid4().hex[:10]}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def running_cluster(data_dir: Path, *, webs: int, workers: int, customers: int) -> AsyncIterator[Cluster]:
    """A seeded cluster of real processes, started; closed (every process stopped) on the way out."""
    c = await asyncio.to_thread(Cluster, data_dir, webs=webs, workers=workers)
    try:
        # Seeded before the processes start: the web process builds the Redis store mirror at start.
        c.world = await c.seed(customers=customers)
        await c.start_all()
        await c.quick_notify_retries()
        yield c
    finally:
        await asyncio.to_thread(c.close)


async def until(check: Callable[[], Awaitable[bool] | bool], timeout: float = 90, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def assert_all_zero(found: dict[str, Any]) -> None:
    bad = {k: v for k, v in found.items() if v}
    assert bad == {}, f"invariants broken: {bad}"


async def assert_invariants(cluster: Any) -> None:
    assert_all_zero(await invariants(cluster))
    report = await cluster.ledger_check()
    assert report["ok"], report
    assert report["debit_fen"] == report["credit_fen"] > 0
