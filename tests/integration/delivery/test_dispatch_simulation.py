"""`o2o simulate-dispatch` as an operator runs it: its own scratch database, contract.md's JSON keys, reproducible by seed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CONTRACT_KEYS = {
    "orders",
    "stores",
    "delivered_within_60_pct",
    "p50_min",
    "p95_min",
    "fallbacks",
    "refunded",
    "double_assigned",
}


def simulate(*flags: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "simulate-dispatch", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # stdout holds the JSON object alone (logs go to stderr)


@pytest.mark.timeout(900)
def test_simulation_prints_the_contract_keys_and_is_reproducible(database: str) -> None:
    flags = (
        "--stores",
        "80",
        "--orders",
        "12",
        "--decline",
        "0.3",
        "--silent",
        "0.2",
        "--seed",
        "7",
        "--window-min",
        "20",
    )
    first = simulate(*flags, "--json")
    assert CONTRACT_KEYS <= set(first)
    assert first["orders"] == 12 and first["stores"] == 80 and first["double_assigned"] == 0
    assert first["unfinished"] == 0
    assert first["delivered"] + first["cancelled_no_store"] + first["refused_at_checkout"] == 12
    again = simulate(*flags, "--json")
    assert {k: again[k] for k in CONTRACT_KEYS} == {k: first[k] for k in CONTRACT_KEYS}
    assert asyncio.run(scratch_databases()) == []  # each run dropped its own


async def scratch_databases() -> list[str]:
    import asyncpg

    prefix = os.environ["DATABASE_URL"].rpartition("/")[0].replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(prefix + "/postgres")
    try:
        return [r[0] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'o2o_sim_%'")]
    finally:
        await conn.close()


def test_simulation_refuses_bad_flags(database: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "simulate-dispatch",
            "--stores",
            "10",
            "--orders",
            "5",
            "--decline",
            "0.7",
            "--silent",
            "0.5",
            "--seed",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "must not exceed 1" in done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "core.cli", "simulate-dispatch", "--stores", "10"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "--orders" in missing.stderr
