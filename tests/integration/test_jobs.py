"""Durable jobs: exactly-once effects under worker death, concurrency, rollback, retries and dead letters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

import tests.support.jobs  # noqa: F401 - registers the test job kinds
from core import clock, jobs
from core.db import sessionmaker, unit_of_work
from core.settings import get_settings
from tests.conftest import ROOT
from tests.support.jobs import EFFECTS_DDL


@pytest.fixture
async def effects(clean: None) -> None:
    async with unit_of_work() as s:
        await s.execute(text(EFFECTS_DDL))
        await s.execute(text("TRUNCATE test_job_effects"))


async def scalar(sql: str, **params: object) -> object:
    async with sessionmaker()() as s:
        return (await s.execute(text(sql), params)).scalar()


async def job_row(job_id: int) -> dict[str, object]:
    async with sessionmaker()() as s:
        row = (await s.execute(text("SELECT * FROM jobs WHERE id = :id"), {"id": job_id})).mappings().one()
        return dict(row)


async def test_job_in_rolled_back_transaction_never_runs(effects: None) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work() as s:
            await jobs.enqueue(s, "test.record", {"key": "ghost"})
            raise RuntimeError("the business operation failed")
    assert await jobs.run_due_jobs() == 0
    assert await scalar("SELECT count(*) FROM jobs") == 0
    assert await scalar("SELECT count(*) FROM test_job_effects") == 0


async def test_finished_job_never_runs_again(effects: None) -> None:
    async with unit_of_work() as s:
        job_id = await jobs.enqueue(s, "test.record", {"key": "once"})
    assert await jobs.run_due_jobs() == 1
    clock.advance(timedelta(days=2))  # long past any lease
    assert await jobs.run_due_jobs() == 0
    assert await scalar("SELECT count(*) FROM test_job_effects WHERE job_key = 'once'") == 1
    row = await job_row(job_id)
    assert row["status"] == "done" and row["attempts"] == 1


async def test_timer_runs_only_when_due(effects: None) -> None:
    async with unit_of_work() as s:
        await jobs.enqueue(s, "test.record", {"key": "later"}, delay=timedelta(minutes=15))
    assert await jobs.run_due_jobs() == 0
    clock.advance(timedelta(minutes=14, seconds=59))
    assert await jobs.run_due_jobs() == 0
    clock.advance(timedelta(seconds=2))
    assert await jobs.run_due_jobs() == 1
    assert await scalar("SELECT count(*) FROM test_job_effects WHERE job_key = 'later'") == 1


async def test_dedupe_key_and_cancel(effects: None) -> None:
    async with unit_of_work() as s:
        first = await jobs.enqueue(
            s, "test.record", {"key": "d"}, delay=timedelta(minutes=1), dedupe_key="order:1:deadline"
        )
        second = await jobs.enqueue(
            s, "test.record", {"key": "d"}, delay=timedelta(minutes=1), dedupe_key="order:1:deadline"
        )
    assert first is not None and second is None
    async with unit_of_work() as s:
        assert await jobs.cancel(s, "order:1:deadline") is True
    clock.advance(timedelta(minutes=5))
    assert await jobs.run_due_jobs() == 0
    assert (await job_row(first))["status"] == "cancelled"


async def test_retries_back_off_then_dead_letter(effects: None, caplog: pytest.LogCaptureFixture) -> None:
    async with unit_of_work() as s:
        job_id = await jobs.enqueue(s, "test.fail", {"key": "f"}, max_attempts=3)
    t0 = clock.now()
    assert await jobs.run_due_jobs() == 1
    row = await job_row(job_id)
    assert row["status"] == "pending" and row["attempts"] == 1
    first_delay = row["run_at"] - t0
    assert timedelta(seconds=1.5) < first_delay < timedelta(seconds=2.5)
    assert await jobs.run_due_jobs() == 0  # not due yet
    clock.advance(first_delay + timedelta(seconds=0.1))
    t1 = clock.now()
    assert await jobs.run_due_jobs() == 1
    row = await job_row(job_id)
    second_delay = row["run_at"] - t1
    assert row["attempts"] == 2 and second_delay > first_delay
    clock.advance(second_delay + timedelta(seconds=0.1))
    assert await jobs.run_due_jobs() == 1
    row = await job_row(job_id)
    assert row["status"] == "dead" and row["attempts"] == 3
    assert "planned failure for f" in str(row["last_error"])
    clock.advance(timedelta(days=1))
    assert await jobs.run_due_jobs() == 0
    assert await scalar("SELECT count(*) FROM test_job_effects") == 0  # every failed attempt rolled back


async def test_concurrent_claims_never_share_a_job(effects: None) -> None:
    async with unit_of_work() as s:
        for i in range(100):
            await jobs.enqueue(s, "test.record", {"key": f"c{i}"})
    batches = await asyncio.gather(*(jobs.claim(10, f"w{i}") for i in range(20)))
    ids = [row.id for batch in batches for row in batch]
    assert len(ids) == 100
    assert len(set(ids)) == 100


async def test_a_claim_takes_expired_leases_first_and_never_more_than_its_limit(effects: None) -> None:
    """Expired leases and due jobs are read through their own indexes: a backlog of due jobs larger than
    the batch must neither hide a job whose worker died nor make the batch larger than asked."""
    async with unit_of_work() as s:
        stale = await jobs.enqueue(s, "test.record", {"key": "stale"})
    [taken] = await jobs.claim(1, "dead-worker")  # its worker dies holding it
    assert taken.id == stale
    async with unit_of_work() as s:
        for i in range(30):
            await jobs.enqueue(s, "test.record", {"key": f"due{i}"}, run_at=clock.now() - timedelta(minutes=30 - i))
        await jobs.enqueue(s, "test.record", {"key": "later"}, run_at=clock.now() + timedelta(hours=1))
    clock.advance(timedelta(seconds=get_settings().job_lease_seconds + 1))
    batch = await jobs.claim(10, "w1")  # (UPDATE … RETURNING gives the rows in no particular order)
    assert len(batch) == 10
    by_key = {row.payload["key"]: row for row in batch}
    assert by_key["stale"].id == stale and by_key["stale"].attempts == 2  # ahead of 30 older due jobs
    assert set(by_key) - {"stale"} == {f"due{i}" for i in range(9)}  # then the oldest due
    rest = await jobs.claim(100, "w2")
    assert sorted(row.payload["key"] for row in rest) == sorted(f"due{i}" for i in range(9, 30))
    assert await scalar("SELECT count(*) FROM jobs WHERE status = 'pending'") == 1  # only "later"


async def test_two_workers_run_each_job_exactly_once(effects: None) -> None:
    async with unit_of_work() as s:
        for i in range(200):
            await jobs.enqueue(s, "test.record", {"key": f"j{i}", "sleep": 0.002})
    stop = asyncio.Event()
    workers = [asyncio.create_task(jobs.run_worker(stop, concurrency=8, poll=0.02, name=name)) for name in ("A", "B")]
    for _ in range(500):
        if await scalar("SELECT count(*) FROM jobs WHERE status = 'done'") == 200:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*workers)
    assert await scalar("SELECT count(*) FROM test_job_effects") == 200
    assert await scalar("SELECT count(DISTINCT job_key) FROM test_job_effects") == 200
    by_worker = await scalar("SELECT count(DISTINCT locked_by) FROM jobs")
    assert by_worker == 2  # both workers took part


def _start_worker(lease: int = 2) -> subprocess.Popen[bytes]:
    env = {**os.environ, "JOB_LEASE_SECONDS": str(lease), "PYTHONPATH": str(ROOT)}
    code = "import tests.support.jobs; from core.cli import main; main(['worker', '--concurrency', '2'])"
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def test_worker_killed_mid_job_is_taken_over_after_lease_and_effect_happens_once(
    effects: None, tmp_path: Path
) -> None:
    marker = tmp_path / "first-run"
    async with unit_of_work() as s:
        job_id = await jobs.enqueue(s, "test.slow_once", {"key": "k9", "marker": str(marker)})
    first = _start_worker()
    try:
        for _ in range(300):
            if marker.exists():
                break
            await asyncio.sleep(0.05)
        assert marker.exists(), "the first worker never started the job"
        assert (await job_row(job_id))["status"] == "running"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    # The killed worker's transaction died with it: no effect, the job is still leased.
    assert await scalar("SELECT count(*) FROM test_job_effects") == 0
    second = _start_worker()
    try:
        for _ in range(400):
            if (await job_row(job_id))["status"] == "done":
                break
            await asyncio.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(15)
    row = await job_row(job_id)
    assert row["status"] == "done"
    assert row["attempts"] == 2
    assert await scalar("SELECT count(*) FROM test_job_effects WHERE job_key = 'k9'") == 1


async def test_new_due_job_wakes_an_idle_worker_without_waiting_for_the_poll(effects: None) -> None:
    stop = asyncio.Event()
    worker = asyncio.create_task(jobs.run_worker(stop, concurrency=2, poll=60, name="idle"))
    await asyncio.sleep(1.0)  # the worker has polled once and now waits (poll = 60 s) for a NOTIFY
    async with unit_of_work() as s:
        await jobs.enqueue(s, "test.record", {"key": "woken"})
    try:
        for _ in range(100):
            if await scalar("SELECT count(*) FROM test_job_effects WHERE job_key = 'woken'") == 1:
                break
            await asyncio.sleep(0.1)
        assert await scalar("SELECT count(*) FROM test_job_effects WHERE job_key = 'woken'") == 1
    finally:
        stop.set()
        await worker
