"""Store operations: create and change stores, their hours and exceptions, and who works where."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput
from core.users import User
from shop.audit import Actor, record_audit
from shop.catalogue.cache import mark_store_catalogue_changed
from shop.errors import not_found
from shop.pagination import Page, check_page
from shop.stores.geo import check_point
from shop.stores.hours import Interval, Schedule, build_schedule, check_day_intervals, check_weekly
from shop.stores.mirror import mark_store_changed
from shop.stores.models import STORE_STATUSES, Store, StoreHours, StoreHoursException, StoreStaff

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_RADIUS_M = 100_000
# Fields an admin may change through update_store; the ones that move the store on the map re-sync the mirror.
STORE_FIELDS = (
    "code",
    "name",
    "address",
    "phone",
    "lat",
    "lng",
    "radius_m",
    "urgent_capacity",
    "is_partner",
    "is_hq",
    "status",
)
_MAP_FIELDS = {"lat", "lng", "radius_m", "is_partner", "is_hq", "status"}


def _check_fields(values: dict[str, Any]) -> None:
    if "code" in values and not (isinstance(values["code"], str) and _CODE.match(values["code"])):
        raise InvalidInput("code must be 1–32 letters, digits, - or _")
    if "name" in values and not (isinstance(values["name"], str) and 1 <= len(values["name"].strip()) <= 100):
        raise InvalidInput("name must be 1–100 characters")
    if "lat" in values or "lng" in values:
        check_point(values.get("lat", 0.0), values.get("lng", 0.0))
    if "radius_m" in values:
        r = values["radius_m"]
        if isinstance(r, bool) or not isinstance(r, int) or not 0 < r <= MAX_RADIUS_M:
            raise InvalidInput(f"radius_m must be a whole number of metres above 0 and at most {MAX_RADIUS_M}")
    if "urgent_capacity" in values:
        c = values["urgent_capacity"]
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 10_000:
            raise InvalidInput("urgent_capacity must be a whole number from 0")
    if "status" in values and values["status"] not in STORE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STORE_STATUSES)}")
    for text_field, limit in (("address", 300), ("phone", 32)):
        if text_field in values and (not isinstance(values[text_field], str) or len(values[text_field]) > limit):
            raise InvalidInput(f"{text_field} must be text of at most {limit} characters")


async def _check_unique(session: AsyncSession, values: dict[str, Any], store_id: int | None) -> None:
    if "code" in values:
        other = await session.scalar(select(Store.id).where(Store.code == values["code"]))
        if other is not None and other != store_id:
            raise Conflict(f"store code {values['code']!r} is already used by store {other}")
    if values.get("is_hq"):
        hq = await session.scalar(select(Store.id).where(Store.is_hq))
        if hq is not None and hq != store_id:
            raise Conflict(f"store {hq} is already the HQ store; unset it there first")


def store_snapshot(store: Store) -> dict[str, Any]:
    return {f: getattr(store, f) for f in STORE_FIELDS}


async def create_store(session: AsyncSession, actor: Actor, **values: Any) -> Store:
    unknown = set(values) - set(STORE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown store fields: {', '.join(sorted(unknown))}")
    for required in ("code", "name", "lat", "lng", "radius_m"):
        if required not in values:
            raise InvalidInput(f"{required} is required")
    _check_fields(values)
    await _check_unique(session, values, None)
    store = Store(**values)
    session.add(store)
    await session.flush()
    await record_audit(
        session, actor, "store.create", "store", store.id, store_id=store.id, after=store_snapshot(store)
    )
    await mark_store_changed(session, store.id)
    return store


async def get_store(session: AsyncSession, store_id: int, *, for_update: bool = False) -> Store:
    q = select(Store).where(Store.id == store_id)
    if for_update:
        q = q.with_for_update()
    store = await session.scalar(q)
    if store is None:
        raise not_found("store", store_id)
    return store


async def find_store(session: AsyncSession, ident: str | int) -> Store:
    """By id or by code (the CLI accepts either)."""
    text = str(ident).strip()
    store = await session.scalar(select(Store).where(Store.code == text))
    if store is None and text.isdigit():
        store = await session.get(Store, int(text))
    if store is None:
        raise not_found("store", text)
    return store


async def update_store(session: AsyncSession, store_id: int, changes: dict[str, Any], actor: Actor) -> Store:
    unknown = set(changes) - set(STORE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown store fields: {', '.join(sorted(unknown))}")
    store = await get_store(session, store_id, for_update=True)
    merged = {**store_snapshot(store), **changes}
    _check_fields(merged)
    await _check_unique(session, changes, store_id)
    before = {k: getattr(store, k) for k in changes}
    after = {k: v for k, v in changes.items() if before[k] != v}
    if not after:
        return store
    for k, v in after.items():
        setattr(store, k, v)
    await session.flush()
    await record_audit(
        session,
        actor,
        "store.update",
        "store",
        store_id,
        store_id=store_id,
        before={k: before[k] for k in after},
        after=after,
    )
    if _MAP_FIELDS & set(after):
        await mark_store_changed(session, store_id)
    if "status" in after:  # a paused store's catalogue is not served
        mark_store_catalogue_changed(session, store_id)
    return store


async def delete_store(session: AsyncSession, store_id: int, actor: Actor) -> None:
    """Only a store that never held stock or orders can go; otherwise pause it."""
    from shop.stock.models import StockMovement, StockReservation

    store = await get_store(session, store_id, for_update=True)
    used = await session.scalar(
        select(func.count()).select_from(StockMovement).where(StockMovement.store_id == store_id)
    )
    held = await session.scalar(
        select(func.count()).select_from(StockReservation).where(StockReservation.store_id == store_id)
    )
    if used or held:
        raise Conflict(f"store {store_id} has stock history; set its status to paused instead of deleting it")
    snapshot = store_snapshot(store)
    await session.delete(store)
    await session.flush()
    await record_audit(session, actor, "store.delete", "store", store_id, store_id=store_id, before=snapshot)
    await mark_store_changed(session, store_id)
    mark_store_catalogue_changed(session, store_id)


async def list_stores(
    session: AsyncSession,
    *,
    page: int = 1,
    page_size: int = 50,
    ids: Iterable[int] | None = None,
    status: str | None = None,
) -> Page[Store]:
    limit, offset = check_page(page, page_size)
    q = select(Store)
    if ids is not None:
        q = q.where(Store.id.in_(list(ids)))
    if status is not None:
        q = q.where(Store.status == status)
    total = await session.scalar(select(func.count()).select_from(q.subquery())) or 0
    items = (await session.scalars(q.order_by(Store.id).limit(limit).offset(offset))).all()
    return Page(list(items), total, page, page_size)


# --- hours -----------------------------------------------------------------------------------------------


async def load_schedules(
    session: AsyncSession, store_ids: Sequence[int], *, since: date | None = None
) -> dict[int, Schedule]:
    """Schedules of these stores; exceptions from the day before `since` (the ones that still matter)."""
    if not store_ids:
        return {}
    ids = list(store_ids)
    hours = (
        await session.execute(
            select(StoreHours.store_id, StoreHours.weekday, StoreHours.open_min, StoreHours.close_min).where(
                StoreHours.store_id.in_(ids)
            )
        )
    ).all()
    eq = select(
        StoreHoursException.store_id,
        StoreHoursException.on_date,
        StoreHoursException.open_min,
        StoreHoursException.close_min,
    ).where(StoreHoursException.store_id.in_(ids))
    if since is not None:
        eq = eq.where(StoreHoursException.on_date >= since.fromordinal(since.toordinal() - 1))
    exceptions = (await session.execute(eq)).all()
    weekly: dict[int, list[tuple[int, Interval]]] = {i: [] for i in ids}
    dated: dict[int, list[tuple[date, Interval | None]]] = {i: [] for i in ids}
    for sid, wd, o, c in hours:
        weekly[sid].append((wd, Interval(o, c)))
    for sid, d, eo, ec in exceptions:
        dated[sid].append((d, Interval(eo, ec) if eo is not None and ec is not None else None))
    return {i: build_schedule(weekly[i], dated[i]) for i in ids}


async def set_weekly_hours(
    session: AsyncSession, store_id: int, weekly: Iterable[tuple[int, Interval]], actor: Actor
) -> Schedule:
    """Replace the store's weekly hours (overlaps refused, overnight intervals included)."""
    items = check_weekly(weekly)
    await get_store(session, store_id, for_update=True)
    before = await load_schedules(session, [store_id])
    await session.execute(delete(StoreHours).where(StoreHours.store_id == store_id))
    if items:
        await session.execute(
            insert(StoreHours),
            [
                {"store_id": store_id, "weekday": wd, "open_min": iv.open_min, "close_min": iv.close_min}
                for wd, iv in items
            ],
        )
    await record_audit(
        session,
        actor,
        "store.hours",
        "store",
        store_id,
        store_id=store_id,
        before={"weekly": _weekly_json(before[store_id])},
        after={"weekly": [[wd, iv.open_min, iv.close_min] for wd, iv in items]},
    )
    await mark_store_changed(session, store_id)
    return (await load_schedules(session, [store_id]))[store_id]


def _weekly_json(schedule: Schedule) -> list[list[int]]:
    return [[wd, i.open_min, i.close_min] for wd, day in enumerate(schedule.weekly) for i in day]


async def set_day_exception(
    session: AsyncSession,
    store_id: int,
    on_date: date,
    intervals: Sequence[Interval] | None,
    actor: Actor,
    *,
    note: str = "",
) -> None:
    """Hours for one date replacing the weekday's: None or [] closes the store all day."""
    ivs = check_day_intervals(intervals or (), what=on_date.isoformat())
    if len(note) > 100:
        raise InvalidInput("note must be at most 100 characters")
    await get_store(session, store_id, for_update=True)
    await session.execute(
        delete(StoreHoursException).where(
            StoreHoursException.store_id == store_id, StoreHoursException.on_date == on_date
        )
    )
    rows: list[dict[str, int | None]] = [{"open_min": iv.open_min, "close_min": iv.close_min} for iv in ivs]
    if not rows:
        rows = [{"open_min": None, "close_min": None}]  # closed all day
    await session.execute(
        insert(StoreHoursException), [{"store_id": store_id, "on_date": on_date, "note": note, **r} for r in rows]
    )
    await record_audit(
        session,
        actor,
        "store.exception",
        "store",
        store_id,
        store_id=store_id,
        after={"date": on_date.isoformat(), "intervals": [[i.open_min, i.close_min] for i in ivs], "note": note},
    )
    await mark_store_changed(session, store_id)


async def clear_day_exception(session: AsyncSession, store_id: int, on_date: date, actor: Actor) -> bool:
    await get_store(session, store_id, for_update=True)
    res = await session.execute(
        delete(StoreHoursException).where(
            StoreHoursException.store_id == store_id, StoreHoursException.on_date == on_date
        )
    )
    removed = bool(res.rowcount)  # type: ignore[attr-defined]
    if removed:
        await record_audit(
            session,
            actor,
            "store.exception_cleared",
            "store",
            store_id,
            store_id=store_id,
            before={"date": on_date.isoformat()},
        )
        await mark_store_changed(session, store_id)
    return removed


async def list_exceptions(
    session: AsyncSession, store_id: int, *, since: date, page: int = 1, page_size: int = 50
) -> Page[tuple[date, list[Interval], str]]:
    limit, offset = check_page(page, page_size)
    dates_q = (
        select(StoreHoursException.on_date)
        .where(StoreHoursException.store_id == store_id, StoreHoursException.on_date >= since)
        .group_by(StoreHoursException.on_date)
    )
    total = await session.scalar(select(func.count()).select_from(dates_q.subquery())) or 0
    dates = list(
        (await session.scalars(dates_q.order_by(StoreHoursException.on_date).limit(limit).offset(offset))).all()
    )
    rows = (
        await session.scalars(
            select(StoreHoursException)
            .where(StoreHoursException.store_id == store_id, StoreHoursException.on_date.in_(dates))
            .order_by(StoreHoursException.on_date, StoreHoursException.open_min)
        )
    ).all()
    by_date: dict[date, tuple[list[Interval], str]] = {d: ([], "") for d in dates}
    for r in rows:
        ivs, _ = by_date[r.on_date]
        if r.open_min is not None and r.close_min is not None:
            ivs.append(Interval(r.open_min, r.close_min))
        by_date[r.on_date] = (ivs, r.note)
    return Page([(d, *by_date[d]) for d in dates], total, page, page_size)


# --- staff links -----------------------------------------------------------------------------------------


async def set_staff_stores(session: AsyncSession, user_id: int, store_ids: Iterable[int], actor: Actor) -> list[int]:
    """Make the user work at exactly these stores."""
    user = await session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    wanted = sorted(set(store_ids))
    if wanted and user.role != "staff":
        raise InvalidInput(f"user {user_id} is {user.role}; only staff are linked to stores")
    if wanted:
        existing = set((await session.scalars(select(Store.id).where(Store.id.in_(wanted)))).all())
        missing = [i for i in wanted if i not in existing]
        if missing:
            raise not_found("store", ", ".join(map(str, missing)))
    before = await stores_of_user(session, user_id)
    await session.execute(delete(StoreStaff).where(StoreStaff.user_id == user_id))
    if wanted:
        await session.execute(insert(StoreStaff), [{"store_id": s, "user_id": user_id} for s in wanted])
    await record_audit(
        session, actor, "staff.stores", "user", user_id, before={"stores": before}, after={"stores": wanted}
    )
    return wanted


async def stores_of_user(session: AsyncSession, user_id: int) -> list[int]:
    return list(
        (
            await session.scalars(
                select(StoreStaff.store_id).where(StoreStaff.user_id == user_id).order_by(StoreStaff.store_id)
            )
        ).all()
    )


async def staff_of_store(session: AsyncSession, store_id: int) -> list[User]:
    q = (
        select(User)
        .join(StoreStaff, StoreStaff.user_id == User.id)
        .where(StoreStaff.store_id == store_id)
        .order_by(User.id)
    )
    return list((await session.scalars(q)).all())
