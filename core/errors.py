"""Typed domain errors, mapped once to JSON 4xx/5xx in Litestar's shape."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

log = structlog.get_logger(__name__)


class DomainError(Exception):
    """Base of business errors: each subclass carries an HTTP status and a message a person can act on."""

    status_code = 400

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class InvalidInput(DomainError):
    status_code = 400


class Unprocessable(DomainError):
    status_code = 422


class Forbidden(DomainError):
    status_code = 403


class NotAuthenticated(DomainError):
    status_code = 401


class ServiceUnavailable(DomainError):
    status_code = 503


def _json(status: int, detail: str, extra: Any = None) -> Response[dict[str, Any]]:
    return Response(
        {"status_code": status, "detail": detail, "extra": extra},
        status_code=status,
        media_type=MediaType.JSON,
    )


def domain_error_handler(_: Request, exc: DomainError) -> Response[dict[str, Any]]:
    return _json(exc.status_code, exc.detail, exc.extra)


CONFLICT_MESSAGE = "this conflicts with existing data (it may already exist); reload and try again"
BAD_INPUT_MESSAGE = (
    "a value in the request is out of range or malformed (numbers must fit 64 bits; text may not contain NUL)"
)


def _lost_connection_state(state: str) -> bool:
    """SQLSTATE class 08 (connection exception) and 57P01–57P03 (shutting down, crashed, starting up:
    "the database system is starting up" right after a restart)."""
    return state.startswith("08") or state in ("57P01", "57P02", "57P03")


def integrity_error_handler(_: Request, exc: IntegrityError) -> Response[dict[str, Any]]:
    # A constraint said no: the request conflicts with what exists (a race lost cleanly).
    log.info("integrity_conflict", error=str(exc.orig).splitlines()[0] if exc.orig else str(exc))
    return _json(409, CONFLICT_MESSAGE)


def database_down_handler(_: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.error("database_unavailable", error=str(exc).splitlines()[0][:200])
    return _json(503, "the database is unavailable; try again in a moment")


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, (InterfaceError, ConnectionError, OSError)):
        return True
    if isinstance(exc, (OperationalError, DBAPIError)):
        state = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
        if _lost_connection_state(state):
            return True
        text = str(exc).lower()
        return exc.connection_invalidated or any(
            w in text
            for w in ("connection", "connect call failed", "closed", "terminating", "shutting down", "starting up")
        )
    return False


# PostgreSQL data exceptions a request's own values cause (too big for BIGINT, malformed, too long, NUL in text).
_INPUT_SQLSTATES = {"22003", "22P02", "22001", "22007", "22008", "22021"}


def _is_bad_input(exc: DBAPIError) -> bool:
    """A value from the request PostgreSQL (or asyncpg, before sending it) cannot take, e.g. an id beyond BIGINT."""
    cause: BaseException | None = exc.orig
    while cause is not None:
        if getattr(cause, "sqlstate", None) in _INPUT_SQLSTATES or type(cause).__name__ == "DataError":
            return True
        cause = cause.__cause__
    return False


def dbapi_error_handler(request: Request, exc: DBAPIError) -> Response[dict[str, Any]]:
    if _is_connection_error(exc):
        return database_down_handler(request, exc)
    if _is_bad_input(exc):
        log.info("bad_input_value", error=str(exc.orig).splitlines()[0][:200] if exc.orig else "")
        return _json(400, BAD_INPUT_MESSAGE)
    log.exception("database_error")
    return _json(500, "internal error; it has been logged")


def os_error_handler(request: Request, exc: OSError) -> Response[dict[str, Any]]:
    if isinstance(exc, ConnectionError) or "connect" in str(exc).lower():
        return database_down_handler(request, exc)
    log.exception("os_error")
    return _json(500, "internal error; it has been logged")


def driver_error_handler(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    """An asyncpg error raised by a statement sent straight through the driver (core/driver_sql.py), unwrapped."""
    state = str(getattr(exc, "sqlstate", None) or "")
    if isinstance(exc, asyncpg.InterfaceError) or _lost_connection_state(state):
        return database_down_handler(request, exc)
    if state in _INPUT_SQLSTATES or isinstance(exc, asyncpg.DataError):
        log.info("bad_input_value", error=str(exc).splitlines()[0][:200])
        return _json(400, BAD_INPUT_MESSAGE)
    if state.startswith("23"):
        log.info("integrity_conflict", error=str(exc).splitlines()[0][:200])
        return _json(409, CONFLICT_MESSAGE)
    log.exception("database_error")
    return _json(500, "internal error; it has been logged")


def validation_error_handler(_: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    return _json(400, exc.detail or "invalid input", exc.extra)


def http_exception_handler(_: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    return _json(exc.status_code, exc.detail, exc.extra or None)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_exception_handler,
    IntegrityError: integrity_error_handler,
    DBAPIError: dbapi_error_handler,
    asyncpg.PostgresError: driver_error_handler,
    asyncpg.InterfaceError: driver_error_handler,
    ConnectionRefusedError: database_down_handler,
    OSError: os_error_handler,
}
