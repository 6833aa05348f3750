"""Named parameters compile to asyncpg's positional form, each name once, casts untouched."""

from core.driver_sql import DriverStatement


def test_names_become_positions_in_first_use_order() -> None:
    stmt = DriverStatement("SELECT :b, CAST(:a AS int[]), :b::text, ':not_a_param', x::int FROM t WHERE y = :a")
    assert stmt.sql == "SELECT $1, CAST($2 AS int[]), $1::text, ':not_a_param', x::int FROM t WHERE y = $2"
    assert stmt.names == ("b", "a")
    assert stmt.args({"a": 1, "b": 2, "unused": 3}) == [2, 1]
