"""B2 place order over HTTP: orders/s and p99 at 50 connections, p50 on one connection, and a pgbench
custom script running the same statements as the hot path (the checkout read with the member terms, the order
insert with its lines, event and deadline timer, the stock seam's two) in the same run, with the ratio between the two.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from typing import Any

import asyncpg

from bench.common import ROOT, log, pgbench, serve, wrk

SECONDS = 10
CONNECTIONS = 50
CUSTOMERS = 200
SKUS = 500
STOCK = 1_000_000_000
WORK = ROOT / ".data" / "bench" / "b2"


def dsn() -> str:
    return os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")


async def seed(*, skus: int = SKUS, stock: int = STOCK, customers: int = CUSTOMERS, tag: str = "b2") -> dict[str, Any]:
    """One 24-hour store, `skus` listed SKUs with `stock` units each, `customers` customers; ids returned."""
    conn = await asyncpg.connect(dsn())
    try:
        async with conn.transaction():
            run = secrets.token_hex(4)
            account = await conn.fetchval(
                "INSERT INTO official_accounts (appid, name) VALUES ($1, 'bench') RETURNING id", f"wx{tag}{run}"
            )
            store = await conn.fetchval(
                "INSERT INTO stores (code, name, lat, lng, radius_m, is_partner) "
                "VALUES ($1, '压测门店', 31.2304, 121.4737, 5000, true) RETURNING id",
                f"{tag}-{run}",
            )
            await conn.execute(
                "INSERT INTO store_hours (store_id, weekday, open_min, close_min) "
                "SELECT $1, d, 0, 1440 FROM generate_series(0, 6) d",
                store,
            )
            category = await conn.fetchval(
                "INSERT INTO categories (name) VALUES ($1) RETURNING id", f"压测 {tag} {run}"
            )
            sku_ids = [
                r["id"]
                for r in await conn.fetch(
                    """
                    WITH p AS (
                        INSERT INTO products (category_id, title)
                        SELECT $1, '压测商品 ' || g FROM generate_series(1, $2) g RETURNING id
                    )
                    INSERT INTO skus (product_id, code, spec, base_price_fen)
                    SELECT p.id, $3 || p.id, '件', 100 + p.id % 900 FROM p RETURNING id
                    """,
                    category,
                    skus,
                    f"{tag}-{run}-",
                )
            ]
            await conn.execute(
                "INSERT INTO store_listings (store_id, sku_id, listed) SELECT $1, unnest($2::bigint[]), true",
                store,
                sku_ids,
            )
            await conn.execute(
                "INSERT INTO stock_levels (store_id, sku_id, on_hand, reserved) SELECT $1, unnest($2::bigint[]), $3, 0",
                store,
                sku_ids,
                stock,
            )
            await conn.execute(
                "INSERT INTO stock_movements (store_id, sku_id, kind, on_hand_delta, reserved_delta, ref, actor, "
                "reason, created_at) SELECT $1, unnest($2::bigint[]), 'receive', $3, 0, 'bench', 'bench', 'seed', now()",
                store,
                sku_ids,
                stock,
            )
            customer_ids = [
                r["id"]
                for r in await conn.fetch(
                    "INSERT INTO customers (account_id, openid) SELECT $1, $2 || g FROM generate_series(1, $3) g "
                    "RETURNING id",
                    account,
                    f"o{tag}{run}-",
                    customers,
                )
            ]
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return {"store": store, "skus": sku_ids, "customers": customer_ids}


def tokens(customer_ids: list[int]) -> list[str]:
    from core.auth import issue_token

    return [issue_token("customer", c, "customer") for c in customer_ids]


LUA = """
local tokens = {%(tokens)s}
local skus = {%(skus)s}
local store = %(store)d
local run = "%(run)s"
local counter = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  math.randomseed(os.time() * 1000 + tid * 7919)
end
function request()
  counter = counter + 1
  local body = string.format('{"store_id":%%d,"kind":"pickup","lines":[{"sku_id":%%d,"qty":1}]}',
                             store, skus[math.random(#skus)])
  return wrk.format("POST", "/api/orders", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Idempotency-Key"] = string.format("%%s-%%d-%%d", run, tid, counter),
  }, body)
end
"""


def lua_script(world: dict[str, Any], toks: list[str], name: str) -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.lua"
    path.write_text(
        LUA
        % {
            "tokens": ",".join(f'"{t}"' for t in toks),
            "skus": ",".join(str(s) for s in world["skus"]),
            "store": world["store"],
            "run": f"{name}-{secrets.token_hex(4)}",
        }
    )
    return str(path)


# The hot path's statements, as the application sends them for a one-line pickup order.
PGBENCH_SCRIPT = """
\\set customer random(%(cmin)d, %(cmax)d)
\\set sku random(%(smin)d, %(smax)d)
BEGIN;
SELECT
  (SELECT json_build_array(s.id, s.lat, s.lng, s.radius_m, s.status = 'active',
            coalesce(os.payment_deadline_min, 15),
            (SELECT coalesce(json_agg(json_build_array(h.weekday, h.open_min, h.close_min)), '[]')
               FROM store_hours h WHERE h.store_id = s.id),
            (SELECT coalesce(json_agg(json_build_array(x.on_date, x.open_min, x.close_min)), '[]')
               FROM store_hours_exceptions x
              WHERE x.store_id = s.id AND x.on_date BETWEEN current_date - 1 AND current_date + 4))
     FROM stores s LEFT JOIN store_order_settings os ON os.store_id = s.id WHERE s.id = %(store)d) AS store,
  (SELECT json_agg(json_build_array(k.id, p.id, p.title, k.spec, coalesce(l.price_fen, k.base_price_fen),
            coalesce(l.listed AND k.active AND p.active, false), p.prescription_required,
            coalesce(st.on_hand - st.reserved, 0)))
     FROM skus k JOIN products p ON p.id = k.product_id
     LEFT JOIN store_listings l ON l.store_id = %(store)d AND l.sku_id = k.id
     LEFT JOIN stock_levels st ON st.store_id = %(store)d AND st.sku_id = k.id
    WHERE k.id = ANY(ARRAY[:sku]::bigint[])
       OR (false AND k.id IN (SELECT c.sku_id FROM cart_lines c
                               WHERE c.customer_id = :customer AND c.store_id = %(store)d))) AS skus,
  (SELECT json_build_array(a.contact_name, a.phone, a.address, a.lat, a.lng)
     FROM customer_addresses a WHERE a.id = NULL AND a.customer_id = :customer) AS address,
  (SELECT json_build_array(o.id, o.request_hash, o.number)
     FROM orders o WHERE o.customer_id = :customer AND o.idempotency_key = 'pgb-' || :client_id || '-' || random()) AS existing,
  (SELECT json_agg(json_build_array(c.sku_id, c.qty, c.price_seen_fen) ORDER BY c.sku_id)
     FROM cart_lines c WHERE false AND c.customer_id = :customer AND c.store_id = %(store)d) AS cart,
  pg_try_advisory_xact_lock(hashtextextended('pgb-' || :client_id || '-' || random(), 0)) AS key_free,
  (SELECT json_build_array(c.id, l.name, l.discount_pct, c.points, c.principal_fen + c.bonus_fen)
     FROM member_cards c JOIN member_levels l ON l.id = c.level_id
    WHERE c.customer_id = :customer AND c.active) AS member;
WITH o AS (
    INSERT INTO orders (
        public_id, number, customer_id, store_id, kind, status, idempotency_key, request_hash,
        items_fen, discount_fen, delivery_fee_fen, urgent_fee_fen, total_fen, stored_value_fen, cash_due_fen,
        paid_fen, refunded_fen, coupon_id, member_card_id, contact_name, contact_phone, address_text, lat, lng,
        distance_m, pickup_at, promise_at, payment_deadline_at, handoff_code, note, needs_review,
        prescription_url, review_status, placed_at, created_at, updated_at)
    VALUES (
        substr(md5(random()::text), 1, 24), 'P' || lpad(nextval('order_number_seq')::text, 7, '0'), :customer,
        %(store)d, 'pickup', 'created', md5(random()::text), md5(random()::text), 500, 0, 0, 0, 500, 0, 500, 0, 0,
        NULL, NULL, '', '', '', NULL, NULL, NULL, NULL, now() + interval '15 min', now() + interval '15 min',
        '123456', '', false, NULL, 'none', now(), now(), now())
    ON CONFLICT (customer_id, idempotency_key) DO NOTHING
    RETURNING id, number
), l AS (
    INSERT INTO order_lines (order_id, line_no, sku_id, product_id, title, spec, qty, unit_price_fen, line_fen,
                             discount_fen, prescription_required, refunded_qty)
    SELECT o.id, 1, :sku, 1, '压测商品', '件', 1, 500, 500, 0, false, 0 FROM o
), e AS (
    INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, at)
    SELECT o.id, 'status', NULL, 'created', 'customer:' || :customer, 'placed', now() FROM o
), j AS (
    INSERT INTO jobs (kind, payload, run_at, status, attempts, max_attempts, dedupe_key, created_at)
    SELECT 'orders.payment_deadline', jsonb_build_object('order_id', o.id), now() + interval '15 min',
           'pending', 0, 8, 'orders.payment_deadline:' || o.id, now()
    FROM o
    ON CONFLICT (dedupe_key) DO NOTHING
)
SELECT id AS order_id FROM o \\gset
WITH claim AS (
    INSERT INTO stock_reservations (ref, store_id, status, created_at, updated_at)
    SELECT 'order:' || :order_id, id, 'held', now(), now() FROM stores WHERE id = %(store)d
    ON CONFLICT (ref) DO NOTHING RETURNING id
)
SELECT s.sku_id, s.on_hand - s.reserved AS available, (SELECT id FROM claim) AS rid
FROM stock_levels s
WHERE (SELECT count(*) FROM claim) >= 0 AND s.store_id = %(store)d AND s.sku_id = ANY(ARRAY[:sku]::bigint[])
ORDER BY s.sku_id FOR UPDATE OF s \\gset
WITH want AS (
    SELECT * FROM unnest(ARRAY[:sku]::bigint[], ARRAY[1]::bigint[]) AS w(sku_id, qty)
), upd AS (
    UPDATE stock_levels s SET reserved = s.reserved + w.qty, updated_at = now()
    FROM want w WHERE s.store_id = %(store)d AND s.sku_id = w.sku_id RETURNING s.sku_id
), mv AS (
    INSERT INTO stock_movements (store_id, sku_id, kind, on_hand_delta, reserved_delta, ref, actor, reason, created_at)
    SELECT %(store)d, sku_id, 'reserve', 0, qty, 'order:' || :order_id, 'system', 'reserved', now() FROM want
), rl AS (
    INSERT INTO stock_reservation_lines (reservation_id, sku_id, qty, returned)
    SELECT :rid, sku_id, qty, 0 FROM want
)
SELECT count(*) FROM upd;
COMMIT;
"""


def pgbench_orders(world: dict[str, Any], seconds: int, clients: int) -> float:
    script = WORK / "place_order.sql"
    script.write_text(
        PGBENCH_SCRIPT
        % {
            "store": world["store"],
            "cmin": min(world["customers"]),
            "cmax": max(world["customers"]),
            "smin": min(world["skus"]),
            "smax": max(world["skus"]),
        }
    )
    database = dsn().rsplit("/", 1)[1]
    return pgbench(
        ["-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", str(script)], database
    )


async def count_orders(store_id: int) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn())
    try:
        orders = await conn.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", store_id)
        reserved = await conn.fetchval(
            "SELECT coalesce(sum(reserved), 0) FROM stock_levels WHERE store_id = $1", store_id
        )
        return int(orders), int(reserved)
    finally:
        await conn.close()


def server_env(workers: int) -> dict[str, str]:
    """A pool that holds every connection the load needs: with core's default (20 + 30 overflow) the
    overflow connections are closed on return and reopened (connect, codecs, type introspection,
    statement preparation) on the next request, which costs more than the order itself."""
    per_worker = -(-CONNECTIONS // workers)
    return {"DB_POOL_SIZE": str(per_worker + 2), "DB_MAX_OVERFLOW": "8"}


def run() -> dict[str, Any]:
    world = asyncio.run(seed())
    toks = tokens(world["customers"])
    workers = int(os.environ.get("BENCH_WORKERS", "1"))
    log(f"B2: {len(world['skus'])} SKUs, {len(toks)} customers; granian, {workers} worker(s)")
    with serve("granian", workers=workers, env=server_env(workers)) as srv:
        url = srv.url
        wrk(url + "/api/orders", seconds=2, connections=CONNECTIONS, script=lua_script(world, toks, "warmup"))
        before = asyncio.run(count_orders(world["store"]))
        started = time.perf_counter()
        cpu0 = srv.cpu_seconds()
        many = wrk(url + "/api/orders", seconds=SECONDS, connections=CONNECTIONS, script=lua_script(world, toks, "c50"))
        cpu = srv.cpu_seconds() - cpu0
        elapsed = time.perf_counter() - started
        after = asyncio.run(count_orders(world["store"]))
        single = wrk(url + "/api/orders", seconds=5, connections=1, script=lua_script(world, toks, "c1"))
    log("B2: pgbench custom script with the same statements")
    tps = pgbench_orders(world, SECONDS, CONNECTIONS)
    placed = after[0] - before[0]
    figures = {
        "orders_per_s": round(many.rps),
        "p99_ms": round(many.p99_ms, 2),
        "single_p50_ms": round(single.p50_ms, 2),
        "pgbench_order_tps": round(tps),
        "ratio_to_pgbench": round(many.rps / tps, 3) if tps else None,
        "p50_ms": round(many.p50_ms, 2),
        "errors": many.errors + single.errors,
        "orders_in_db": placed,
        "orders_in_db_per_s": round(placed / elapsed),
        "app_cpu_ms_per_order": round(1000 * cpu / max(placed, 1), 2),
        "workers": workers,
        "connections": CONNECTIONS,
    }
    if placed < many.requests * 0.99:
        log(f"B2: only {placed} orders in the database for {many.requests} requests")
    return figures


if __name__ == "__main__":  # python -m bench.b2 (on the bench services, like make bench ONLY=B2)
    from bench.common import bench_services, migrate, print_table

    with bench_services():
        migrate()
        print_table("B2", run())
