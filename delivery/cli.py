"""`o2o simulate-dispatch`: the dispatch simulation in a database of its own (created, migrated, dropped), so a
generated city never mixes with real data; prints the figures, or contract.md's JSON object with --json."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from delivery.sim_world import SimParams

# The generated city's store mirror must live apart from any real one: the first empty Redis db from 15 down.
REDIS_SIM_DBS = range(15, 0, -1)


def add_simulate_dispatch(subparsers: Any, name: str) -> None:
    sp = subparsers.add_parser(name, help="simulate urgent dispatch on a virtual clock against a generated city")
    sp.add_argument("--stores", type=int, required=True, help="partner stores in the city")
    sp.add_argument("--orders", type=int, required=True, help="urgent orders over the window")
    sp.add_argument("--decline", type=float, required=True, help="probability a store declines an offer")
    sp.add_argument("--silent", type=float, required=True, help="probability a store never answers")
    sp.add_argument("--seed", type=int, required=True)
    sp.add_argument("--capacity", type=int, default=3, help="urgent capacity per store (default 3)")
    sp.add_argument("--window-min", type=float, default=120.0, help="orders arrive over this many minutes (120)")
    sp.add_argument("--city-km", type=float, default=30.0, help="the city is K km × K km (30)")
    sp.add_argument(
        "--strategy",
        choices=("capacity_aware", "nearest_first"),
        default="capacity_aware",
        help="capacity-aware ranking with widening rings (default), or plain nearest-first for comparison",
    )
    sp.add_argument("--json", action="store_true", help="print one JSON object (contract.md's keys and more)")
    sp.set_defaults(func=cmd_simulate_dispatch)


def check_params(args: argparse.Namespace) -> SimParams:
    from core.cli import CLIError

    if args.stores < 1 or args.orders < 1:
        raise CLIError("--stores and --orders must be at least 1")
    for flag in ("decline", "silent"):
        if not 0 <= getattr(args, flag) <= 1:
            raise CLIError(f"--{flag} must be a probability between 0 and 1")
    if args.decline + args.silent > 1:
        raise CLIError("--decline plus --silent must not exceed 1")
    if args.capacity < 1 or args.window_min <= 0 or args.city_km <= 0:
        raise CLIError("--capacity, --window-min and --city-km must be positive")
    return SimParams(
        stores=args.stores,
        orders=args.orders,
        decline=args.decline,
        silent=args.silent,
        seed=args.seed,
        capacity=args.capacity,
        window_min=args.window_min,
        city_km=args.city_km,
        strategy=args.strategy,
    )


def cmd_simulate_dispatch(args: argparse.Namespace) -> None:
    from core.cli import services

    params = check_params(args)
    with services():
        figures = run_isolated(params, quiet=args.json)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(format_figures(figures))


def format_figures(f: dict[str, Any]) -> str:
    lines = [
        f"simulate-dispatch: {f['orders']} orders, {f['stores']} stores, strategy {f['strategy']}",
        f"  delivered within 60 min   {f['delivered_within_60_pct']} %",
        f"  delivery minutes p50/p95  {f['p50_min']} / {f['p95_min']}",
        f"  fallbacks                 {f['fallbacks']} (HQ {f['hq_fallbacks']}, cancelled {f['cancelled_no_store']})",
        f"  refunded                  {f['refunded']}",
        f"  double assignments        {f['double_assigned']}",
        f"  refused at checkout       {f['refused_at_checkout']}",
        f"  offers / rings widened    {f['offers']} / {f['rings_widened']}",
        f"  wall time                 {f['wall_s']} s",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def scratch_database(*, quiet: bool = True) -> Iterator[str]:
    """A fresh, migrated database on the configured server (and an empty Redis db), dropped afterwards; the
    environment points at it inside the block and is restored after."""
    from core.cli import migrate
    from core.settings import get_settings, reset_settings

    base_db = get_settings().database_url or ""
    base_redis = get_settings().redis_url or ""
    prefix, _, _ = base_db.rpartition("/")
    scratch = f"o2o_sim_{os.getpid()}_{secrets.token_hex(3)}"
    redis_root = base_redis.rstrip("/")
    if redis_root.count("/") > 2:
        redis_root = redis_root.rsplit("/", 1)[0]
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "REDIS_URL", "LOG_LEVEL")}
    asyncio.run(_database(prefix, f'CREATE DATABASE "{scratch}"'))
    # A scratch database: durability of its commits buys nothing, and fsync per commit would be most of the run.
    asyncio.run(_database(prefix, f'ALTER DATABASE "{scratch}" SET synchronous_commit = off'))
    try:
        redis_db = asyncio.run(_empty_redis_db(redis_root))
        os.environ.update(DATABASE_URL=f"{prefix}/{scratch}", REDIS_URL=f"{redis_root}/{redis_db}")
        if quiet:
            os.environ["LOG_LEVEL"] = "WARNING"
        reset_settings()
        migrate()
        yield scratch
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_settings()
        asyncio.run(_database(prefix, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))


def run_isolated(params: SimParams, *, quiet: bool = True) -> dict[str, Any]:
    """The simulation in a scratch database."""
    with scratch_database(quiet=quiet):
        return asyncio.run(_in_sim_process(lambda: _simulate(params), strategy=params.strategy))


async def _empty_redis_db(root: str) -> int:
    import redis.asyncio as aioredis

    for db in REDIS_SIM_DBS:
        client = aioredis.Redis.from_url(f"{root}/{db}")
        try:
            if await client.dbsize() == 0:
                return db
        finally:
            await client.aclose()
    raise RuntimeError("no empty Redis database (1–15) for the simulation's store mirror")


async def _database(prefix: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(prefix.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _in_sim_process(work: Callable[[], Awaitable[Any]], *, strategy: str = "capacity_aware") -> Any:
    """Run `work` with the domains' handlers (no WeChat), no WeCom or live updates, and clean up after."""
    import logging

    from core import clock
    from core.app import register_domain_handlers
    from core.db import dispose_engine
    from core.events import clear_handlers
    from core.logging import configure_logging
    from core.redis import close_redis, get_redis
    from core.settings import get_settings
    from delivery.live import drain
    from delivery.settings import override_dispatch_settings, reset_dispatch_settings

    await _forget_clients()  # engines and clients of another database or event loop
    configure_logging(get_settings().log_level)
    root = logging.getLogger()
    root.setLevel(get_settings().log_level.upper())
    for handler in root.handlers:  # stdout is for the figures (--json)
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    override_dispatch_settings(notify_staff=False, live_updates=False, strategy=strategy)
    try:
        clear_handlers()
        register_domain_handlers()
        return await work()
    finally:
        clock.reset()
        reset_dispatch_settings()
        clear_handlers()
        await drain()
        redis = get_redis()
        keys = [k async for k in redis.scan_iter(match="shop:*")]
        if keys:
            await redis.delete(*keys)
        await dispose_engine()
        await close_redis()


async def _forget_clients() -> None:
    import core.db
    import core.redis

    try:
        await core.db.dispose_engine()
    except Exception:  # created on a loop that is gone: just drop it
        core.db._engine = None
        core.db._sessionmaker = None
    try:
        await core.redis.close_redis()
    except Exception:
        core.redis._client = None


async def _simulate(params: SimParams) -> dict[str, Any]:
    from delivery.simulate_dispatch import Simulation

    sim = Simulation(params)
    sim.install_spies()
    return await sim.run()
