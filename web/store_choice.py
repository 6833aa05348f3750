"""Which store a customer is shopping at (chosen, located, remembered, near a saved address, or the first open
one), the store switcher's list, saved addresses and pickup time slots for the checkout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from litestar import Response
from sqlalchemy import or_, select

from core import clock
from core.errors import NotFound
from shop.customers.services import list_addresses
from shop.services import get_store, load_schedules, nearest_stores
from shop.stores.models import Store
from shop.stores.nearest import open_in_postgres

STORE_COOKIE = "h5_store"
STORE_COOKIE_DAYS = 90
LIST_LIMIT = 100
SLOT_MINUTES = 30
SLOT_COUNT = 16

Source = Literal["chosen", "location", "saved", "address", "fallback"]


@dataclass(frozen=True, slots=True)
class StoreChoice:
    store: Store | None
    source: Source
    open_now: bool = True
    distance_m: float | None = None


@dataclass(frozen=True, slots=True)
class StoreRow:
    store: Store
    open_now: bool
    distance_m: float | None
    delivers: bool | None


async def _active(db: Any, store_id: int | None) -> Store | None:
    if store_id is None:
        return None
    try:
        found = await get_store(db, store_id)
    except NotFound:
        return None
    return found if found.status == "active" else None


async def _is_open(db: Any, store_id: int) -> bool:
    return (await open_in_postgres(db, [store_id], clock.now())).get(store_id, False)


async def _nearest(db: Any, lat: float, lng: float) -> tuple[Store, bool, float] | None:
    """The nearest open store to the point, else the nearest one at all (closed now)."""
    near = await nearest_stores(db, lat, lng, limit=1, open_now=True) or await nearest_stores(db, lat, lng, limit=1)
    if not near:
        return None
    return await get_store(db, near[0].store_id), near[0].open_now, near[0].distance_m


async def pick_store(
    db: Any, customer_id: int, store_id: int | None, point: tuple[float, float] | None, cookie: str | None
) -> StoreChoice:
    chosen = await _active(db, store_id)
    if chosen is not None:
        return StoreChoice(chosen, "chosen", await _is_open(db, chosen.id))
    if point is not None:
        found = await _nearest(db, *point)
        if found is not None:
            return StoreChoice(found[0], "location", found[1], found[2])
    saved = await _active(db, int(cookie)) if cookie and cookie.isdigit() else None
    if saved is not None:
        return StoreChoice(saved, "saved", await _is_open(db, saved.id))
    addresses = await list_addresses(db, customer_id)
    if addresses:
        found = await _nearest(db, addresses[0].lat, addresses[0].lng)
        if found is not None:
            return StoreChoice(found[0], "address", found[1], found[2])
    stores = list((await db.scalars(select(Store).where(Store.status == "active").order_by(Store.id).limit(50))).all())
    if not stores:
        return StoreChoice(None, "fallback", False)
    opened = await open_in_postgres(db, [s.id for s in stores], clock.now())
    first = next((s for s in stores if opened.get(s.id)), stores[0])
    return StoreChoice(first, "fallback", bool(opened.get(first.id)))


def remember_store(response: Response[Any], store_id: int, choice: StoreChoice) -> Response[Any]:
    if choice.source in ("chosen", "location"):
        response.set_cookie(
            STORE_COOKIE, str(store_id), max_age=STORE_COOKIE_DAYS * 86400, path="/", httponly=True, samesite="lax"
        )
    return response


def _matches(store: Store, q: str | None) -> bool:
    return q is None or q.lower() in store.name.lower() or q.lower() in (store.address or "").lower()


async def store_list(db: Any, point: tuple[float, float] | None, q: str | None) -> list[StoreRow]:
    """Active stores: nearest first with distances when the point is known, else by id; `q` matches name/address."""
    if point is not None:
        near = await nearest_stores(db, point[0], point[1], limit=200 if q else LIST_LIMIT)
        by_id = {
            s.id: s for s in (await db.scalars(select(Store).where(Store.id.in_([n.store_id for n in near])))).all()
        }
        rows = [
            StoreRow(by_id[n.store_id], n.open_now, n.distance_m, n.delivers)
            for n in near
            if n.store_id in by_id and _matches(by_id[n.store_id], q)
        ]
        return rows[:LIST_LIMIT]
    query = select(Store).where(Store.status == "active")
    if q:
        pat = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Store.name.ilike(pat, escape="\\"), Store.address.ilike(pat, escape="\\")))
    stores = list((await db.scalars(query.order_by(Store.id).limit(LIST_LIMIT))).all())
    opened = await open_in_postgres(db, [s.id for s in stores], clock.now()) if stores else {}
    return [StoreRow(s, bool(opened.get(s.id)), None, None) for s in stores]


async def saved_addresses(db: Any, customer_id: int) -> list[Any]:
    return await list_addresses(db, customer_id)


_WEEKDAY = "一二三四五六日"


def slot_label(at: datetime, now: datetime) -> str:
    local, today = at.astimezone(clock.SHANGHAI), now.astimezone(clock.SHANGHAI).date()
    days = (local.date() - today).days
    day = {0: "今天", 1: "明天", 2: "后天"}.get(days, f"周{_WEEKDAY[local.weekday()]}")
    return f"{day} {local:%H:%M}"


async def pickup_slots(db: Any, store_id: int) -> list[tuple[str, str]]:
    """Pickup times the store is open at (every half hour from 20 minutes ahead), as (ISO time, Chinese label)."""
    schedule = (await load_schedules(db, [store_id])).get(store_id)
    if schedule is None:
        return []
    now = clock.now()
    start = now + timedelta(minutes=20)
    start = start.replace(second=0, microsecond=0) + timedelta(minutes=(-start.minute) % SLOT_MINUTES)
    slots: list[tuple[str, str]] = []
    at = start
    while len(slots) < SLOT_COUNT and at < now + timedelta(days=2):
        if schedule.is_open_at(at):
            slots.append((at.isoformat(), slot_label(at, now)))
        at += timedelta(minutes=SLOT_MINUTES)
    return slots
