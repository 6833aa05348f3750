"""Migrations: upgrade to head, downgrade to base, upgrade again on a fresh database."""

from __future__ import annotations

import asyncio
import os

import asyncpg

from tests.conftest import _recreate_database, alembic_downgrade, alembic_upgrade


async def tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            "SELECT schemaname || '.' || tablename AS t FROM pg_tables WHERE schemaname IN ('public', 'sandbox')"
        )
        return {r["t"] for r in rows}
    finally:
        await conn.close()


async def test_up_down_up() -> None:
    url = os.environ["DATABASE_URL"] + "_migrations"
    await _recreate_database(url)
    await asyncio.to_thread(alembic_upgrade, url)
    head = await tables(url)
    assert {"public.users", "public.jobs", "public.alembic_version"} <= head
    await asyncio.to_thread(alembic_downgrade, url, "base")
    assert await tables(url) == {"public.alembic_version"}
    await asyncio.to_thread(alembic_upgrade, url)
    assert await tables(url) == head
