"""The simulation's generated city: stores uniform over a K km square, one 24-hour HQ at the centre, one SKU
in stock everywhere, customers uniform too. Written in bulk to the simulation's own database."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from sqlalchemy import text

from core.db import unit_of_work
from shop.stores.mirror import rebuild_geo_index

CENTRE = (31.2304, 121.4737)  # People's Square, Shanghai
KM_PER_DEG_LAT = 111.195
PRICE_FEN = 2500


@dataclass(frozen=True)
class SimParams:
    stores: int
    orders: int
    decline: float
    silent: float
    seed: int
    capacity: int = 3
    window_min: float = 120.0
    city_km: float = 30.0
    strategy: str = "capacity_aware"
    # The model's fixed defaults (issue 10).
    radius_km: tuple[float, float] = (3.0, 5.0)
    answer_min: tuple[float, float] = (0.5, 4.0)
    prep_min: tuple[float, float] = (5.0, 10.0)
    speed_kmh: float = 15.0
    road_factor: float = 1.3
    handoff_min: float = 3.0


@dataclass(frozen=True)
class World:
    customer_id: int
    sku_id: int
    hq_id: int


def point(rng: random.Random, city_km: float) -> tuple[float, float]:
    x = rng.uniform(-city_km / 2, city_km / 2)
    y = rng.uniform(-city_km / 2, city_km / 2)
    lat = CENTRE[0] + y / KM_PER_DEG_LAT
    lng = CENTRE[1] + x / (KM_PER_DEG_LAT * math.cos(math.radians(CENTRE[0])))
    return lat, lng


_STORES = text(
    """
    INSERT INTO stores (code, name, address, phone, lat, lng, radius_m, urgent_capacity, is_partner, is_hq, status,
                        created_at, updated_at)
    SELECT 'SIM' || n, '模拟门店 ' || n, '', '', lat, lng, r, :capacity, true, false, 'active', now(), now()
    FROM unnest(CAST(:lats AS float8[]), CAST(:lngs AS float8[]), CAST(:radii AS int[])) WITH ORDINALITY AS s(lat, lng, r, n)
    """
)
_HQ = text(
    """
    INSERT INTO stores (code, name, address, phone, lat, lng, radius_m, urgent_capacity, is_partner, is_hq, status,
                        created_at, updated_at)
    VALUES ('SIMHQ', '总部门店', '', '', :lat, :lng, 50000, 1000, false, true, 'active', now(), now())
    RETURNING id
    """
)


async def build_world(p: SimParams, rng: random.Random) -> World:
    lats, lngs, radii = [], [], []
    for _ in range(p.stores):
        lat, lng = point(rng, p.city_km)
        lats.append(lat)
        lngs.append(lng)
        radii.append(round(rng.uniform(*p.radius_km) * 1000))
    async with unit_of_work() as s:
        await s.execute(_STORES, {"lats": lats, "lngs": lngs, "radii": radii, "capacity": p.capacity})
        hq = int(await s.scalar(_HQ, {"lat": CENTRE[0], "lng": CENTRE[1]}))
        await s.execute(
            text(
                "INSERT INTO store_hours (store_id, weekday, open_min, close_min) "
                "SELECT s.id, d, 0, 1440 FROM stores s CROSS JOIN generate_series(0, 6) d"
            )
        )
        account = await s.scalar(
            text("INSERT INTO official_accounts (appid, name) VALUES ('wxsimulation0001', '模拟') RETURNING id")
        )
        customer = await s.scalar(
            text("INSERT INTO customers (account_id, openid) VALUES (:a, 'sim-customer') RETURNING id"), {"a": account}
        )
        category = await s.scalar(text("INSERT INTO categories (name) VALUES ('药品') RETURNING id"))
        product = await s.scalar(
            text("INSERT INTO products (category_id, title) VALUES (:c, '布洛芬缓释胶囊') RETURNING id"),
            {"c": category},
        )
        sku = int(
            await s.scalar(
                text(
                    "INSERT INTO skus (product_id, code, spec, base_price_fen) VALUES (:p, 'SIM-1', '盒', :f) RETURNING id"
                ),
                {"p": product, "f": PRICE_FEN},
            )
        )
        await s.execute(
            text(
                "INSERT INTO store_listings (store_id, sku_id, price_fen, listed) SELECT id, :k, NULL, true FROM stores"
            ),
            {"k": sku},
        )
        await s.execute(
            text("INSERT INTO stock_levels (store_id, sku_id, on_hand, reserved) SELECT id, :k, 100000, 0 FROM stores"),
            {"k": sku},
        )
        await s.execute(
            text(
                "INSERT INTO stock_movements (store_id, sku_id, kind, on_hand_delta, reserved_delta, ref, actor, reason, "
                "created_at) SELECT id, :k, 'receive', 100000, 0, 'sim', 'sim', 'simulation stock', now() FROM stores"
            ),
            {"k": sku},
        )
    await rebuild_geo_index()
    return World(int(customer), sku, hq)  # type: ignore[arg-type]
