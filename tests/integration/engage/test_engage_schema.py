"""Migration 0007 builds exactly the tables engage.models describes (constraint names included)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from core.db import Base, get_engine, unit_of_work
from engage.models import ENGAGE_TABLES

TABLES = {t.__tablename__ for t in ENGAGE_TABLES}


def _mentions_ours(diff: Any) -> bool:
    for item in diff if isinstance(diff, list) else [diff]:
        for part in item[1:] if isinstance(item, tuple) else []:
            table = getattr(part, "table", None)
            name = getattr(table, "name", None) or getattr(part, "name", None)
            if name in TABLES or (isinstance(part, str) and part in TABLES):
                return True
    return False


async def test_migration_matches_models(database: str) -> None:
    def compare(conn) -> list[Any]:  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, type_, parent: type_ != "table" or name in TABLES,
            },
        )
        return compare_metadata(ctx, Base.metadata)

    async with get_engine().connect() as conn:
        diffs = await conn.run_sync(compare)
    assert [d for d in diffs if _mentions_ours(d)] == []


async def test_constraint_names_follow_the_naming_convention(database: str) -> None:
    expected: set[tuple[str, str]] = set()
    for table in TABLES:
        t = Base.metadata.tables[table]
        expected |= {(table, str(c.name)) for c in t.constraints}
        expected |= {(table, str(ix.name)) for ix in t.indexes}
    async with unit_of_work() as s:
        found = (
            await s.execute(
                text(
                    "SELECT conrelid::regclass::text AS t, conname FROM pg_constraint "
                    "WHERE conrelid::regclass::text = ANY(:tables) AND contype IN ('p', 'u', 'f', 'c') "
                    "UNION SELECT tablename, indexname FROM pg_indexes WHERE tablename = ANY(:tables) "
                    "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
                ),
                {"tables": sorted(TABLES)},
            )
        ).all()
    assert {(r[0], r[1]) for r in found} == expected
