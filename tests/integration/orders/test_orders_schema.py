"""Migration 0005 builds exactly the tables orders.models describes (names of constraints included)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import orders.models  # noqa: F401  (registers the tables)
from core.db import Base, get_engine

TABLES = {"orders", "order_lines", "order_events", "refund_requests", "cart_lines", "store_order_settings"}


def _table_of(diff: Any) -> str | None:
    for item in diff if isinstance(diff, list) else [diff]:
        for part in item[1:] if isinstance(item, tuple) else []:
            table = getattr(part, "table", None)
            name = getattr(table, "name", None) or getattr(part, "name", None)
            if name in TABLES or (isinstance(part, str) and part in TABLES):
                return str(name if name in TABLES else part)
    return None


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
    ours = [d for d in diffs if _table_of(d) is not None]
    assert ours == []


async def test_constraint_names_follow_the_naming_convention(database: str) -> None:
    """Alembic does not compare CHECK constraints, so compare every constraint name with the models'."""
    from sqlalchemy import text

    from core.db import unit_of_work

    expected: set[tuple[str, str]] = set()
    for table in TABLES:
        t = Base.metadata.tables[table]
        for c in t.constraints:
            expected.add((table, str(c.name)))
        for ix in t.indexes:
            expected.add((table, str(ix.name)))
    async with unit_of_work() as s:
        rows = (
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
    assert {(r[0], r[1]) for r in rows} == expected
