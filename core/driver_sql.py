"""Hot-path SQL on the driver: statements of the hot paths (placing an order, the stock seam, payments)
run on the session's own asyncpg connection, inside the session's transaction, without SQLAlchemy's
per-statement work (about a quarter of a millisecond of CPU each here). Written with :name parameters
like the rest; compiled once to $n, and asyncpg keeps each one prepared per connection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

# A quoted literal (left alone) or a :name that is not part of a :: cast.
_PARAM = re.compile(r"'(?:[^']|'')*'|(?<![:\w]):([A-Za-z_]\w*)")


class DriverStatement:
    """A statement with :name parameters, compiled to asyncpg's positional $n form."""

    __slots__ = ("names", "sql")

    def __init__(self, sql: str) -> None:
        names: list[str] = []

        def number(m: re.Match[str]) -> str:
            name = m.group(1)
            if name is None:
                return m.group(0)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        self.sql = _PARAM.sub(number, sql)
        self.names = tuple(names)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[n] for n in self.names]


_DRIVER = "core.driver_sql.driver"


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, with the session's transaction begun on it.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement; a statement sent to the
    driver before that would run in autocommit. So begin it here the adapter's own way, and refuse to
    go on unless the driver is inside a transaction. Changes the session holds but has not flushed are
    flushed first, as SQLAlchemy's autoflush would before one of its own statements. The connection is
    remembered for the session's current transaction (looking it up through SQLAlchemy each time cost
    0.1 ms per statement).
    """
    sync = session.sync_session
    if sync.autoflush and not sync._flushing and not sync._is_clean():
        await session.flush()
    txn = sync.get_transaction()
    cached = sync.info.get(_DRIVER)
    if cached is not None and txn is not None and cached[0] is txn and cached[1].is_in_transaction():
        return cached[1]
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():
        adapter: Any = raw.dbapi_connection
        async with adapter._execute_mutex:
            if adapter._transaction is None:
                await adapter._start_transaction()
    if not driver.is_in_transaction():
        raise RuntimeError("the session's transaction has not begun on its connection; refusing to write outside it")
    sync.info[_DRIVER] = (sync.get_transaction(), driver)
    return driver


async def fetchrow(session: AsyncSession, stmt: DriverStatement, params: Mapping[str, Any]) -> Any:
    return await (await driver_connection(session)).fetchrow(stmt.sql, *stmt.args(params))


async def fetch(session: AsyncSession, stmt: DriverStatement, params: Mapping[str, Any]) -> list[Any]:
    return await (await driver_connection(session)).fetch(stmt.sql, *stmt.args(params))


async def fetchval(session: AsyncSession, stmt: DriverStatement, params: Mapping[str, Any]) -> Any:
    return await (await driver_connection(session)).fetchval(stmt.sql, *stmt.args(params))
