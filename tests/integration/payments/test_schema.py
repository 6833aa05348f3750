"""The hand-written 0006 migration matches the payments models (names of constraints and indexes included)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

import payments.models  # noqa: F401  (registers the tables)
import shop.models  # noqa: F401
from core.db import Base, get_engine

PAYMENT_TABLES = {
    "payment_intents",
    "payment_events",
    "payment_notifies",
    "payment_refunds",
    "ledger_transactions",
    "ledger_entries",
    "recon_runs",
    "recon_mismatches",
    "settlement_terms",
    "settlement_statements",
}


def _diff(connection) -> list:  # type: ignore[no-untyped-def]
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    Base.metadata.tables["stores"].to_metadata(metadata)  # referenced, not compared
    for name in PAYMENT_TABLES:
        Base.metadata.tables[name].to_metadata(metadata)

    def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.name in PAYMENT_TABLES

    ctx = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": False, "include_object": include_object},
    )
    return [d for d in compare_metadata(ctx, metadata) if not (isinstance(d, tuple) and d[0] == "remove_table")]


async def test_models_match_migration(clean: None) -> None:
    async with get_engine().connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []
