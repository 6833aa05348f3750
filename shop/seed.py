"""`o2o seed-demo` for the shop: the 邻里康 chain (stores, hours, catalogue, listings, stock, staff). Idempotent:
only what is missing is added, so an admin's later edits survive a re-run (and `make run` runs it every time)."""

from __future__ import annotations

import hashlib
import random
from datetime import date
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.db import unit_of_work
from core.money import yuan_to_fen
from core.settings import get_settings
from core.users import User, hash_password
from shop import seed_data as data
from shop.after_commit import drain
from shop.catalogue import cache
from shop.catalogue.models import Category, Product, Sku, StoreListing
from shop.coupons.seed import seed_coupons
from shop.customers.services import upsert_default_account
from shop.members.seed import seed_members
from shop.stock.models import StockLevel, StockMovement
from shop.stores.hours import interval_from_text
from shop.stores.mirror import rebuild_geo_index
from shop.stores.models import Store, StoreHours, StoreHoursException, StoreStaff

log = structlog.get_logger(__name__)

_LOCK = 720_401  # advisory lock: two seeders never interleave


def _barcode(code: str) -> str:
    digits = "69" + str(int(hashlib.sha1(code.encode()).hexdigest(), 16))[:10]  # noqa: S324 - a demo number
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return digits + str(check)


def _next_spring_festival_eve(today: date) -> date | None:
    for _, day in sorted(data.SPRING_FESTIVAL_EVE.items()):
        d = date.fromisoformat(day)
        if d >= today:
            return d
    return None


async def _stores(session: AsyncSession) -> tuple[dict[str, int], list[str]]:
    hq_taken = await session.scalar(select(Store.id).where(Store.is_hq)) is not None
    created: list[str] = []
    for code, name, address, lat, lng, _hours, radius, partner, capacity, _kind in data.STORES:
        row = await session.scalar(
            pg_insert(Store)
            .values(
                code=code,
                name=name,
                address=address,
                phone=f"021-6{int(hashlib.md5(code.encode()).hexdigest(), 16) % 10_000_000:07d}",  # noqa: S324
                lat=lat,
                lng=lng,
                radius_m=radius,
                urgent_capacity=capacity,
                is_partner=partner,
                is_hq=code == "HQ" and not hq_taken,
                status="active",
                created_at=clock.now(),
                updated_at=clock.now(),
            )
            .on_conflict_do_nothing(index_elements=[Store.code])
            .returning(Store.id)
        )
        if row is not None:
            created.append(code)
    ids = dict((await session.execute(select(Store.code, Store.id))).all())
    eve = _next_spring_festival_eve(clock.now_shanghai().date())
    for code, _name, _addr, _lat, _lng, hours, *_ in data.STORES:
        if code not in created:
            continue
        rows = [
            {"store_id": ids[code], "weekday": wd, "open_min": iv.open_min, "close_min": iv.close_min}
            for wd, spans in hours.items()
            for iv in (interval_from_text(o, c) for o, c in spans)
        ]
        await session.execute(pg_insert(StoreHours), rows)
        if eve is not None and hours is not data.ALL_DAY:
            closed = hours is data.SUBURB
            await session.execute(
                pg_insert(StoreHoursException).values(
                    store_id=ids[code],
                    on_date=eve,
                    open_min=None if closed else 8 * 60,
                    close_min=None if closed else 18 * 60,
                    note="除夕" + ("休息" if closed else "提前打烊"),
                )
            )
    return ids, created


async def _categories(session: AsyncSession) -> dict[str, int]:
    out: dict[str, int] = {}
    for order, path in enumerate(data.CATALOGUE):
        top, sub = path.split("/")
        parent = out.get(top)
        if parent is None:
            parent = await _category(session, top, None, data.TOP_ORDER.get(top, 9))
            out[top] = parent
        out[path] = await _category(session, sub, parent, order)
    return out


async def _category(session: AsyncSession, name: str, parent: int | None, order: int) -> int:
    found = await session.scalar(
        select(Category.id).where(Category.parent_id.is_not_distinct_from(parent), Category.name == name)
    )
    if found is not None:
        return found
    cat = Category(name=name, parent_id=parent, sort_order=order)
    session.add(cat)
    await session.flush()
    return cat.id


async def _products(session: AsyncSession, categories: dict[str, int]) -> dict[str, tuple[int, str, int]]:
    """sku code -> (sku id, category path, base price fen)."""
    skus: dict[str, tuple[int, str, int]] = {}
    for path, items in data.CATALOGUE.items():
        cid = categories[path]
        prefix = data.SUBCATEGORY_CODES[path]
        for i, (title, subtitle, specs, tags) in enumerate(items, start=1):
            pid = await session.scalar(
                select(Product.id)
                .where(Product.category_id == cid, Product.title == title)
                .order_by(Product.id)
                .limit(1)
            )
            if pid is None:
                rx = "Rx" in tags
                product = Product(
                    category_id=cid,
                    title=title,
                    subtitle=subtitle,
                    description=f"{title}，{subtitle}。" + ("处方药：须凭医生处方，药师审核后发货。" if rx else ""),
                    image_urls=[f"/static/demo/{prefix.lower()}-{i:03d}.png"],
                    tags=[t for t in tags if t != "Rx"] + (["处方药"] if rx else []),
                    prescription_required=rx,
                )
                session.add(product)
                await session.flush()
                pid = product.id
            for j, (spec, price) in enumerate(specs, start=1):
                code = f"{prefix}-{i:03d}" + (f"-{j}" if len(specs) > 1 else "")
                fen = yuan_to_fen(price)
                await session.execute(
                    pg_insert(Sku)
                    .values(
                        product_id=pid,
                        code=code,
                        spec=spec,
                        barcode=_barcode(code),
                        base_price_fen=fen,
                        active=True,
                        created_at=clock.now(),
                        updated_at=clock.now(),
                    )
                    .on_conflict_do_nothing(index_elements=[Sku.code])
                )
                skus[code] = (0, path, fen)
    ids = dict((await session.execute(select(Sku.code, Sku.id).where(Sku.code.in_(list(skus))))).all())
    return {code: (ids[code], path, fen) for code, (_, path, fen) in skus.items()}


def _sells(kind: str, path: str) -> bool:
    if kind == "pharmacy":
        return True
    return path not in ("药品/处方药", "药品/维生素营养")


async def _listings_and_stock(
    session: AsyncSession, stores: dict[str, int], skus: dict[str, tuple[int, str, int]]
) -> tuple[int, int]:
    listings: list[dict[str, Any]] = []
    stock: list[dict[str, Any]] = []
    for code, *_, kind in data.STORES:
        station = code in ("SH05", "SH30", "HQ")
        for sku_code, (sku_id, path, fen) in skus.items():
            if not _sells(kind, path):
                continue
            price = None
            if station and path.split("/")[0] in ("零食", "饮料"):
                price = (fen * 12 // 100 + 9) // 10 * 10  # station prices: +20%, whole jiao
            listings.append({"store_id": stores[code], "sku_id": sku_id, "price_fen": price, "listed": True})
            rng = random.Random(f"{code}:{sku_code}")
            qty = 0 if rng.random() < 0.06 else rng.randint(2, 15) if path == "药品/处方药" else rng.randint(5, 80)
            stock.append({"store_id": stores[code], "sku_id": sku_id, "on_hand": qty, "reserved": 0})
    now = clock.now()
    made = 0
    for i in range(0, len(listings), 2000):
        res = await session.execute(
            pg_insert(StoreListing)
            .values([{**x, "updated_at": now} for x in listings[i : i + 2000]])
            .on_conflict_do_nothing()
            .returning(StoreListing.sku_id)
        )
        made += len(res.all())
    received = 0
    for i in range(0, len(stock), 2000):
        new = (
            await session.execute(
                pg_insert(StockLevel)
                .values([{**x, "updated_at": now} for x in stock[i : i + 2000]])
                .on_conflict_do_nothing()
                .returning(StockLevel.store_id, StockLevel.sku_id, StockLevel.on_hand)
            )
        ).all()
        moves = [
            {
                "store_id": r.store_id,
                "sku_id": r.sku_id,
                "kind": "receive",
                "on_hand_delta": r.on_hand,
                "reserved_delta": 0,
                "ref": None,
                "actor": "seed",
                "reason": "opening stock",
                "created_at": now,
            }
            for r in new
            if r.on_hand
        ]
        if moves:
            await session.execute(pg_insert(StockMovement), moves)
        received += len(new)
    return made, received


async def _people(session: AsyncSession, stores: dict[str, int]) -> int:
    """admin, finance and 2–3 staff per store; passwords hashed once each (argon2 is slow on purpose)."""
    hashes: dict[str, str] = {}

    def hashed(password: str) -> str:
        if password not in hashes:
            hashes[password] = hash_password(password)
        return hashes[password]

    wanted: list[dict[str, Any]] = []
    links: dict[str, str] = {}
    for username, password, name in (data.ADMIN, data.FINANCE):
        role = "admin" if username == data.ADMIN[0] else "finance"
        wanted.append({"username": username, "password": password, "role": role, "display_name": name})
    names = iter(data.STAFF_NAMES * 10)
    for code, store_name, _addr, _lat, _lng, hours, *_ in data.STORES:
        count = 3 if hours is data.ALL_DAY else 2
        short = store_name.split("（")[-1].rstrip("）")
        for n in range(1, count + 1):
            username = f"{code.lower()}.staff{n}"
            wanted.append(
                {
                    "username": username,
                    "password": data.STAFF_PASSWORD,
                    "role": "staff",
                    "display_name": f"{next(names)}（{short}）",
                }
            )
            links[username] = code
    existing = set(
        (await session.scalars(select(User.username).where(User.username.in_([w["username"] for w in wanted])))).all()
    )
    todo = [w for w in wanted if w["username"] not in existing]
    if not todo:
        return 0
    now = clock.now()
    rows = [
        {
            "username": w["username"],
            "password_hash": hashed(w["password"]),
            "role": w["role"],
            "display_name": w["display_name"],
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        for w in todo
    ]
    made = (
        await session.execute(
            pg_insert(User)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[User.username])
            .returning(User.id, User.username)
        )
    ).all()
    staff_links = [{"store_id": stores[links[u]], "user_id": uid, "created_at": now} for uid, u in made if u in links]
    if staff_links:
        await session.execute(pg_insert(StoreStaff).values(staff_links).on_conflict_do_nothing())
    return len(made)


async def seed_demo() -> None:
    async with unit_of_work() as session:
        await upsert_default_account(session)
    if not get_settings().is_dev:
        print("shop: O2O_ENV=prod — the default official account is set; demo stores and users are not loaded")
        return
    async with unit_of_work() as session:
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        stores, created = await _stores(session)
        categories = await _categories(session)
        skus = await _products(session, categories)
        listings, stocked = await _listings_and_stock(session, stores, skus)
        people = await _people(session, stores)
        await seed_members(session)  # member levels, top-up plans, cards (shop/members/seed.py)
    await seed_coupons()
    await drain()
    try:
        await rebuild_geo_index()
        await cache.bump(None)
    except Exception as exc:  # Redis is a fast path; the app rebuilds the mirror at start
        log.warning("seed_redis_skipped", error=type(exc).__name__)
    _print_summary(len(stores), len(created), len(skus), listings, stocked, people)


def demo_sign_ins() -> list[str]:
    """The demo accounts, printed by `make run` under the console URLs."""
    return [
        "demo sign-ins (consoles):",
        f"  admin    {data.ADMIN[0]} / {data.ADMIN[1]}",
        f"  finance  {data.FINANCE[0]} / {data.FINANCE[1]}",
        f"  staff    sh01.staff1 (any <store code>.staff1–3, hq.staff1) / {data.STAFF_PASSWORD}",
        "  customers: open the sandbox phone, ＋新用户, 扫一扫 a store QR to follow, then tap 点单",
    ]


def _print_summary(stores: int, new_stores: int, skus: int, listings: int, stocked: int, people: int) -> None:
    base = get_settings().base_url
    lines = [
        f"shop: demo chain 邻里康 — {stores} stores ({new_stores} new), {skus} SKUs, "
        f"{listings} new listings, {stocked} new stock rows, {people} new accounts",
        f"  sign in at {base}/admin, {base}/finance, {base}/staff (API: POST {base}/api/auth/login):",
        f"    admin    {data.ADMIN[0]} / {data.ADMIN[1]}",
        f"    finance  {data.FINANCE[0]} / {data.FINANCE[1]}",
        f"    staff    <store code>.staff1 … e.g. sh01.staff1, hq.staff1 / {data.STAFF_PASSWORD} (2–3 per store)",
        "  customers sign in through WeChat OAuth (the sandbox phone page in dev)",
    ]
    print("\n".join(lines), flush=True)
