"""The migrations build exactly what the models describe, for every domain: columns, types, indexes, and
the names of all constraints (alembic does not compare CHECK constraints, so names are compared apart)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from core.app import DOMAINS, _optional_module
from core.db import Base, get_engine, unit_of_work

SCHEMAS = ("public", "sandbox")


def load_models() -> None:
    for pkg in DOMAINS:
        _optional_module(f"{pkg}.models")
    import core.jobs
    import core.users  # noqa: F401
    import wechat.sandbox.official_models
    import wechat.sandbox.pay_models  # noqa: F401


async def test_migrations_match_the_models(database: str) -> None:
    load_models()

    def compare(conn: Any) -> list[Any]:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_schemas": True,
                "include_name": lambda name, type_, parent: type_ != "schema" or name in (None, *SCHEMAS),
                # Tests may create tables of their own (test_*); they are not the schema.
                "include_object": lambda obj, name, type_, reflected, compare_to: (
                    name != "alembic_version" and not (type_ == "table" and str(name).startswith("test_"))
                ),
            },
        )
        return compare_metadata(ctx, Base.metadata)

    async with get_engine().connect() as conn:
        diffs = await conn.run_sync(compare)
    assert diffs == []


async def test_constraint_and_index_names_match_the_models(database: str) -> None:
    load_models()
    expected: set[tuple[str, str]] = set()
    for table in Base.metadata.tables.values():
        qualified = f"{table.schema}.{table.name}" if table.schema else table.name
        for c in table.constraints:
            expected.add((qualified, str(c.name)))
        for ix in table.indexes:
            expected.add((qualified, str(ix.name)))
    async with unit_of_work() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT conrelid::regclass::text, conname FROM pg_constraint c JOIN pg_namespace n "
                    "ON n.oid = c.connamespace WHERE n.nspname = ANY(:schemas) AND contype IN ('p', 'u', 'f', 'c', 'x') AND c.conrelid <> 0 "
                    "AND conrelid::regclass::text <> 'alembic_version' "
                    "UNION SELECT CASE WHEN schemaname = 'public' THEN tablename ELSE schemaname || '.' || tablename END, "
                    "indexname FROM pg_indexes WHERE schemaname = ANY(:schemas) AND tablename <> 'alembic_version' "
                    "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
                ),
                {"schemas": list(SCHEMAS)},
            )
        ).all()
    found = {(r[0], r[1]) for r in rows if not r[0].split(".")[-1].startswith("test_")}
    extra, missing = sorted(found - expected), sorted(expected - found)
    assert extra == [] and missing == []
