"""Errors of statements sent straight through asyncpg (core/driver_sql.py) map like SQLAlchemy-wrapped ones."""

from __future__ import annotations

from types import SimpleNamespace

import asyncpg

from core.errors import driver_error_handler


def status_of(exc: Exception) -> int:
    return driver_error_handler(None, exc).status_code  # type: ignore[arg-type]


def test_a_lost_or_restarting_database_is_503() -> None:
    assert status_of(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")) == 503
    assert status_of(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")) == 503
    assert status_of(asyncpg.exceptions.AdminShutdownError("terminating connection")) == 503
    assert status_of(asyncpg.InterfaceError("cannot perform operation: connection is closed")) == 503


def test_bad_values_are_400_and_conflicts_409() -> None:
    assert status_of(asyncpg.exceptions.NumericValueOutOfRangeError("out of range")) == 400
    assert status_of(asyncpg.exceptions.UniqueViolationError("duplicate key")) == 409


def test_anything_else_is_a_logged_500() -> None:
    assert status_of(asyncpg.exceptions.SyntaxOrAccessError("syntax error")) == 500


def test_a_dropped_connection_inside_an_exception_group_is_still_503() -> None:
    """The database went away mid-request and the session's rollback failed too: Litestar raises both together."""
    from core.app import unhandled_error

    lost = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    group = ExceptionGroup("request and cleanup failed", [RuntimeError("rollback failed"), lost])
    assert unhandled_error(None, group).status_code == 503  # type: ignore[arg-type]
    request = SimpleNamespace(url=SimpleNamespace(path="/api/orders/"))
    assert unhandled_error(request, RuntimeError("a bug")).status_code == 500  # type: ignore[arg-type]
