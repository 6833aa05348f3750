"""Shop commands of the `o2o` script: import-catalogue FILE, import-stock STORE FILE (streamed, all or nothing)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


def add_import_catalogue(sub: Any, name: str) -> None:
    sp = sub.add_parser(name, help="import categories, products and SKUs from a CSV file (all or nothing)")
    sp.add_argument("file", help="CSV with columns category,title,sku_code,price[,subtitle,spec,barcode,…]")
    sp.set_defaults(func=cmd_import_catalogue)


def add_import_stock(sub: Any, name: str) -> None:
    sp = sub.add_parser(name, help="set a store's stock from a CSV file sku_code,on_hand[,reason] (all or nothing)")
    sp.add_argument("store", help="store code or id")
    sp.add_argument("file")
    sp.set_defaults(func=cmd_import_stock)


class _Progress:
    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if now - self.last >= 0.5:
            self.last = now
            print(f"  … {rows:,} rows", file=sys.stderr, flush=True)


def _run(path_text: str, work: Callable[[Any, Any, _Progress], Awaitable[str]]) -> None:
    from core.cli import CLIError, services
    from core.errors import DomainError
    from shop.errors import ImportFailed

    path = Path(path_text)
    if not path.is_file():
        raise CLIError(f"{path} is not a readable file")
    with services():

        async def main() -> str:
            from core.db import dispose_engine, unit_of_work
            from core.redis import close_redis
            from shop.after_commit import drain

            try:
                with path.open(encoding="utf-8-sig", newline="") as fh:
                    async with unit_of_work() as session:
                        summary = await work(session, fh, _Progress())
                await drain()
                return summary
            finally:
                await dispose_engine()
                await close_redis()

        started = time.monotonic()
        try:
            summary = asyncio.run(main())
        except ImportFailed as exc:
            for line, message in exc.errors[:20]:
                print(f"  line {line}: {message}", file=sys.stderr)
            raise CLIError(f"{path}: {exc.detail}") from None
        except DomainError as exc:
            raise CLIError(exc.detail) from None
        print(f"{summary} in {time.monotonic() - started:.1f}s", flush=True)


def cmd_import_catalogue(args: argparse.Namespace) -> None:
    from shop.audit import Actor
    from shop.catalogue.import_csv import import_catalogue

    actor = Actor(f"cli:{getpass.getuser()}"[:64], "admin")

    async def work(session: Any, fh: Any, progress: _Progress) -> str:
        r = await import_catalogue(session, fh, actor, progress=progress)
        return (
            f"imported {r.rows:,} rows: {r.products_created} products and {r.skus_created} SKUs created, "
            f"{r.skus_updated} SKUs updated ({r.prices_changed} price changes), {r.categories_created} new categories"
        )

    _run(args.file, work)


def cmd_import_stock(args: argparse.Namespace) -> None:
    from shop.audit import Actor
    from shop.stock.import_csv import import_stock
    from shop.stores.services import find_store

    actor = Actor(f"cli:{getpass.getuser()}"[:64], "admin")

    async def work(session: Any, fh: Any, progress: _Progress) -> str:
        store = await find_store(session, args.store)
        r = await import_stock(session, store.id, fh, actor, progress=progress)
        return (
            f"store {store.code} ({store.name}): {r.rows:,} rows, {r.changed} levels changed, {r.unchanged} unchanged"
        )

    _run(args.file, work)
