"""B3 flash sale: 10,000 order attempts, at most 500 in flight, for 100 units of one SKU over HTTP.

Counts what was sold (201s), what the database holds (orders, reserved units), and oversold (any unit
sold beyond stock: must be 0). The load generator is a small keep-alive HTTP/1.1 client on asyncio
streams: one coroutine per connection, so "in flight" is exactly the number of connections.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from bench.b2 import dsn, seed, server_env, tokens
from bench.common import log, serve

ATTEMPTS = 10_000
IN_FLIGHT = 500
UNITS = 100
CUSTOMERS = 1_000


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> int:
    writer.write(head + body)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def flash_sale(url: str, requests: list[tuple[bytes, bytes]], in_flight: int) -> tuple[Counter[int], float]:
    """Send every request, `in_flight` connections at a time; returns status counts and seconds."""
    parts = urlsplit(url)
    queue: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    statuses: Counter[int] = Counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while True:
                try:
                    head, body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    statuses[await _request(reader, writer, head, body)] += 1
                except (ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
                    statuses[0] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(in_flight)))
    return statuses, time.perf_counter() - started


def build_requests(url: str, store: int, sku: int, toks: list[str], n: int) -> list[tuple[bytes, bytes]]:
    host = urlsplit(url).netloc
    run = secrets.token_hex(4)
    body = json.dumps({"store_id": store, "kind": "pickup", "lines": [{"sku_id": sku, "qty": 1}]}).encode()
    out = []
    for i in range(n):
        head = (
            f"POST /api/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {toks[i % len(toks)]}\r\nIdempotency-Key: b3-{run}-{i:06d}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append((head, body))
    return out


async def outcome(store: int, sku: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn())
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM orders WHERE store_id = $1) AS orders,
                   (SELECT coalesce(sum(l.qty), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
                     WHERE o.store_id = $1 AND l.sku_id = $2) AS units_ordered,
                   (SELECT on_hand FROM stock_levels WHERE store_id = $1 AND sku_id = $2) AS on_hand,
                   (SELECT reserved FROM stock_levels WHERE store_id = $1 AND sku_id = $2) AS reserved,
                   (SELECT count(*) FROM stock_reservations WHERE store_id = $1) AS reservations,
                   (SELECT coalesce(sum(reserved_delta), 0) FROM stock_movements WHERE store_id = $1 AND sku_id = $2)
                     AS reserved_by_movements
            """,
            store,
            sku,
        )
        return dict(row)
    finally:
        await conn.close()


def run() -> dict[str, Any]:
    world = asyncio.run(seed(skus=1, stock=UNITS, customers=CUSTOMERS, tag="b3"))
    store, sku = world["store"], world["skus"][0]
    toks = tokens(world["customers"])
    workers = int(os.environ.get("BENCH_WORKERS", "1"))
    log(f"B3: {ATTEMPTS} attempts, {IN_FLIGHT} in flight, {UNITS} units; granian, {workers} worker(s)")
    with serve("granian", workers=workers, env=server_env(workers)) as srv:
        requests = build_requests(srv.url, store, sku, toks, ATTEMPTS)
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover
            runner = asyncio.run
        statuses, seconds = runner(flash_sale(srv.url, requests, IN_FLIGHT))
    db = asyncio.run(outcome(store, sku))
    sold = statuses.get(201, 0)
    oversold = max(0, db["units_ordered"] - UNITS, sold - UNITS, db["reserved"] - db["on_hand"])
    return {
        "attempts": ATTEMPTS,
        "units": UNITS,
        "sold": sold,
        "oversold": oversold,
        "attempts_per_s": round(ATTEMPTS / seconds),
        "in_flight": IN_FLIGHT,
        "seconds": round(seconds, 2),
        "refused_out_of_stock": statuses.get(409, 0),
        "other_statuses": {str(k): v for k, v in sorted(statuses.items()) if k not in (201, 409)},
        "orders_in_db": db["orders"],
        "units_reserved": db["reserved"],
        "movement_log_balanced": db["reserved_by_movements"] == db["reserved"],
        "workers": workers,
    }


if __name__ == "__main__":  # python -m bench.b3 (on the bench services, like make bench ONLY=B3)
    from bench.common import bench_services, migrate, print_table

    with bench_services():
        migrate()
        print_table("B3", run())
