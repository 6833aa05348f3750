"""Database: the async engine, one session/transaction per unit of work, the declarative Base."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TypeAlias

from litestar.di import NamedDependency
from sqlalchemy import BigInteger, DateTime, MetaData, func
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core import clock
from core.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True), int: BigInteger}


class AuditMixin:
    """created_at/updated_at set from the injectable clock (never the database's now())."""

    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now, server_default=func.now())


# The request's session, as controllers declare it: `db_session: DbSession`.
DbSession: TypeAlias = NamedDependency[AsyncSession]

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None


def database_url() -> str:
    url = get_settings().database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set and no embedded PostgreSQL was started")
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def get_engine() -> AsyncEngine:
    global _engine, _sessionmaker
    if _engine is None:
        s = get_settings()
        _engine = create_async_engine(
            database_url(),
            pool_size=s.db_pool_size,
            max_overflow=s.db_max_overflow,
            # No pre-ping: it costs round trips on every checkout of the hot paths. A connection broken
            # by a PostgreSQL restart is invalidated on its first error (that request answers 503) and
            # the pool reconnects.
            pool_pre_ping=False,
            pool_recycle=1800,
            connect_args={"server_settings": {"application_name": "o2o", "timezone": "UTC"}, "timeout": 5},
        )
        _sessionmaker = async_sessionmaker(_engine, expire_on_commit=False, autoflush=True)
    return _engine


def sessionmaker() -> async_sessionmaker[AsyncSession]:
    get_engine()
    assert _sessionmaker is not None
    return _sessionmaker


async def dispose_engine() -> None:
    global _engine, _sessionmaker
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _sessionmaker = None


@contextlib.asynccontextmanager
async def unit_of_work() -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends, rolls back on error.

    A use case that waits on something outside between reading and writing (start_payment calls WeChat
    Pay) may commit in the middle to hand its connection back to the pool; its next statement begins a
    new transaction.

    Events published inside run their handlers in this transaction (core.events); after a
    commit the outbox has whatever they wrote, so the worker can send it.
    """
    async with sessionmaker()() as session:
        yield session  # an error raised here skips the commit; closing the session rolls back
        await session.commit()
