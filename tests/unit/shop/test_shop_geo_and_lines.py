"""Pure pieces: great-circle distance, coordinate checks, reservation line normalisation, CSV rows, prices."""

from __future__ import annotations

import math

import pytest

from core.errors import InvalidInput
from shop.catalogue.services import check_price
from shop.csv_rows import parse_bool, read_rows
from shop.errors import ImportFailed
from shop.stock.seam import StockLine, normalize_lines
from shop.stores.geo import EARTH_RADIUS_M, check_point, haversine_m


def test_haversine() -> None:
    assert haversine_m(31.2, 121.4, 31.2, 121.4) == 0
    # One degree of latitude is R·π/180.
    assert haversine_m(31.0, 121.0, 32.0, 121.0) == pytest.approx(EARTH_RADIUS_M * math.pi / 180, rel=1e-9)
    # 人民广场 → 陆家嘴 is about 2.4 km.
    assert 2200 < haversine_m(31.2336, 121.4750, 31.2397, 121.4998) < 2600
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_M)


@pytest.mark.parametrize(
    ("lat", "lng"), [(90.1, 0), (-91, 0), (0, 180.5), (0, -181), (math.nan, 0), (0, math.inf), ("31", 121), (True, 1)]
)
def test_check_point_refuses(lat: object, lng: object) -> None:
    with pytest.raises(InvalidInput):
        check_point(lat, lng)


def test_check_point_accepts_edges() -> None:
    assert check_point(90, -180) == (90.0, -180.0)


def test_lines_are_summed_sorted_and_whole() -> None:
    assert normalize_lines([(5, 1), {"sku_id": 2, "qty": 3}, StockLine(5, 2)]) == (StockLine(2, 3), StockLine(5, 3))
    for bad in ([], [(1, 0)], [(1, -2)], [(1, 2.0)], [("1", 1)], [(1, 10**7)]):
        with pytest.raises(InvalidInput):
            normalize_lines(bad)


def test_prices_are_whole_non_negative_fen() -> None:
    assert check_price(0) == 0 and check_price(1250) == 1250
    for bad in (-1, 12.5, 12.0, "12", True, None, 10**12):
        with pytest.raises(InvalidInput):
            check_price(bad)


def test_csv_rows_name_their_lines() -> None:
    rows = list(read_rows(["\ufeffsku_code,on_hand\n", "A,1\n", "\n", "B,2\n"], required=["sku_code", "on_hand"]))
    assert rows == [(2, {"sku_code": "A", "on_hand": "1"}), (4, {"sku_code": "B", "on_hand": "2"})]
    with pytest.raises(ImportFailed, match="line 1: missing column"):
        list(read_rows(["sku,on_hand\n"], required=["sku_code", "on_hand"]))
    with pytest.raises(ImportFailed, match="unknown column"):
        list(read_rows(["sku_code,on_hand,colour\n"], required=["sku_code", "on_hand"]))
    with pytest.raises(ImportFailed, match="line 3: more fields"):
        list(read_rows(["sku_code,on_hand\n", "A,1\n", "B,2,3\n"], required=["sku_code", "on_hand"]))
    with pytest.raises(ImportFailed, match="line 2: fewer fields"):
        list(read_rows(["sku_code,on_hand\n", "A\n"], required=["sku_code", "on_hand"]))
    assert parse_bool("是", "x") and not parse_bool("0", "x")
    with pytest.raises(InvalidInput):
        parse_bool("maybe", "x")
