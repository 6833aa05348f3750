"""The driver helpers orders' hot path uses; they live in core (the stock seam and payments use them too)."""

from core.driver_sql import DriverStatement, driver_connection, fetch, fetchrow, fetchval

__all__ = ["DriverStatement", "driver_connection", "fetch", "fetchrow", "fetchval"]
