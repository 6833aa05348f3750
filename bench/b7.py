"""B7 coupon flash claim: 10,000 claims, at most 500 in flight, for a coupon with a quota of 100, over HTTP.

Each claim is a different customer (POST /api/coupons/claim/{template}); the quota is the conditional UPDATE
of shop.coupons.claim_coupon. Counts what was claimed (201s), what the database holds (the template's issued
counter and the coupon rows), and over_issued (any coupon beyond the quota: must be 0).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from bench.b2 import dsn, server_env, tokens
from bench.b3 import flash_sale
from bench.common import log, serve

CLAIMS = 10_000
IN_FLIGHT = 500
QUOTA = 100


async def seed(customers: int = CLAIMS) -> dict[str, Any]:
    """An account, `customers` customers and one claimable coupon template with the quota; ids returned."""
    conn = await asyncpg.connect(dsn())
    try:
        async with conn.transaction():
            run = secrets.token_hex(4)
            account = await conn.fetchval(
                "INSERT INTO official_accounts (appid, name) VALUES ($1, 'bench') RETURNING id", f"wxb7{run}"
            )
            ids = [
                r["id"]
                for r in await conn.fetch(
                    "INSERT INTO customers (account_id, openid) "
                    "SELECT $1, 'b7-' || $2 || '-' || g FROM generate_series(1, $3) g RETURNING id",
                    account,
                    run,
                    customers,
                )
            ]
            now = datetime.now(UTC)
            template = await conn.fetchval(
                """
                INSERT INTO coupon_templates (code, title, kind, threshold_fen, off_fen, scope, scope_ids, valid_from,
                    valid_until, total_quota, issued, per_customer_limit, claimable, status, created_at, updated_at)
                VALUES ($1, '限量秒杀券', 'cash', 0, 1000, 'all', '{}', $2, $3, $4, 0, 1, true, 'active', $2, $2)
                RETURNING id
                """,
                f"b7-{run}",
                now - timedelta(hours=1),
                now + timedelta(days=7),
                QUOTA,
            )
        return {"customers": ids, "template": template}
    finally:
        await conn.close()


def build_requests(url: str, template: int, toks: list[str]) -> list[tuple[bytes, bytes]]:
    host = urlsplit(url).netloc
    out = []
    for tok in toks:
        head = (
            f"POST /api/coupons/claim/{template} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {tok}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        out.append((head, b""))
    return out


async def outcome(template: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn())
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT issued FROM coupon_templates WHERE id = $1) AS issued,
                   (SELECT count(*) FROM customer_coupons WHERE template_id = $1) AS coupons,
                   (SELECT count(DISTINCT customer_id) FROM customer_coupons WHERE template_id = $1) AS holders
            """,
            template,
        )
        return dict(row)
    finally:
        await conn.close()


def run() -> dict[str, Any]:
    world = asyncio.run(seed())
    toks = tokens(world["customers"])
    workers = int(os.environ.get("BENCH_WORKERS", "1"))
    log(f"B7: {CLAIMS} claims, {IN_FLIGHT} in flight, quota {QUOTA}; granian, {workers} worker(s)")
    with serve("granian", workers=workers, env=server_env(workers)) as srv:
        requests = build_requests(srv.url, world["template"], toks[:CLAIMS])
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover
            runner = asyncio.run
        statuses, seconds = runner(flash_sale(srv.url, requests, IN_FLIGHT))
    db = asyncio.run(outcome(world["template"]))
    claimed = statuses.get(201, 0)
    over = max(0, db["issued"] - QUOTA, db["coupons"] - QUOTA, claimed - QUOTA)
    return {
        "claims": CLAIMS,
        "quota": QUOTA,
        "issued": db["coupons"],
        "over_issued": over,
        "claims_per_s": round(CLAIMS / seconds),
        "in_flight": IN_FLIGHT,
        "seconds": round(seconds, 2),
        "claimed_201": claimed,
        "refused_409": statuses.get(409, 0),
        "other_statuses": {str(k): v for k, v in sorted(statuses.items()) if k not in (201, 409)},
        "issued_counter": db["issued"],
        "distinct_holders": db["holders"],
        "workers": workers,
    }


if __name__ == "__main__":  # python -m bench.b7 (on the bench services, like make bench ONLY=B7)
    from bench.common import bench_services, migrate, print_table

    with bench_services():
        migrate()
        print_table("B7", run())
