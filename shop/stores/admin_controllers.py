"""Store management API (/api/admin/stores): admins manage, staff operate their own stores, finance reads."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from core import clock
from core.auth import user_guard
from core.db import DbSession
from shop.access import actor_of, authorize_store, principal_of, require_role, visible_store_ids
from shop.stores.schemas import (
    DayExceptionIn,
    DayExceptionOut,
    HoursOut,
    IntervalOut,
    StaffOut,
    StoreIn,
    StoreOut,
    StorePage,
    StorePatch,
    WeeklyHoursIn,
    changes_of,
    weekly_out,
)
from shop.stores.services import (
    clear_day_exception,
    create_store,
    delete_store,
    list_exceptions,
    list_stores,
    load_schedules,
    set_day_exception,
    set_weekly_hours,
    staff_of_store,
    stores_of_user,
    update_store,
)
from shop.strict import strict_body

PageNo = Annotated[int, QueryParameter(ge=1, le=100_000)]
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]
Req = Request[Any, Any, Any]


class AdminStoreController(Controller):
    path = "/api/admin/stores"
    tags = ["admin: stores"]
    guards = [user_guard]

    @get("/", summary="Stores this user may see (staff: their own)")
    async def list_(self, request: Req, db_session: DbSession, page: PageNo = 1, page_size: PageSize = 50) -> StorePage:
        ids = await visible_store_ids(db_session, principal_of(request))
        result = await list_stores(db_session, page=page, page_size=page_size, ids=ids)
        return StorePage([StoreOut.of(s) for s in result.items], result.total, page, page_size)

    @post("/", summary="Create a store (admin)")
    async def create(self, request: Req, db_session: DbSession, data: JSONBody[StoreIn]) -> StoreOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        store = await create_store(db_session, actor_of(p), **changes_of(data))
        return StoreOut.of(store)

    @get("/{store_id:int}", summary="A store")
    async def read(self, request: Req, db_session: DbSession, store_id: FromPath[int]) -> StoreOut:
        return StoreOut.of(await authorize_store(db_session, principal_of(request), store_id, "read"))

    @patch("/{store_id:int}", summary="Change a store's settings (admin)")
    async def change(
        self, request: Req, db_session: DbSession, store_id: FromPath[int], data: JSONBody[StorePatch]
    ) -> StoreOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "manage")
        return StoreOut.of(await update_store(db_session, store_id, changes_of(data), actor_of(p)))

    @delete("/{store_id:int}", summary="Delete a never-used store (admin); pause it otherwise", status_code=204)
    async def remove(self, request: Req, db_session: DbSession, store_id: FromPath[int]) -> None:
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "manage")
        await delete_store(db_session, store_id, actor_of(p))

    @get("/{store_id:int}/hours", summary="Weekly hours and upcoming dated exceptions")
    async def hours(
        self, request: Req, db_session: DbSession, store_id: FromPath[int], page: PageNo = 1, page_size: PageSize = 50
    ) -> HoursOut:
        await authorize_store(db_session, principal_of(request), store_id, "read")
        today = clock.now_shanghai().date()
        schedule = (await load_schedules(db_session, [store_id]))[store_id]
        found = await list_exceptions(db_session, store_id, since=today, page=page, page_size=page_size)
        exceptions = [
            DayExceptionOut(d, not ivs, [IntervalOut.of(i) for i in ivs], note) for d, ivs, note in found.items
        ]
        return HoursOut(weekly_out(schedule), exceptions, found.total)

    @put("/{store_id:int}/hours", summary="Replace the weekly hours (staff of the store, admin)")
    async def set_hours(
        self, request: Req, db_session: DbSession, store_id: FromPath[int], data: JSONBody[WeeklyHoursIn]
    ) -> HoursOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "operate")
        schedule = await set_weekly_hours(
            db_session, store_id, [(h.weekday, h.interval()) for h in data.weekly], actor_of(p)
        )
        return HoursOut(weekly_out(schedule), [])

    @put("/{store_id:int}/hours/exceptions/{on_date:date}", summary="Hours for one date (holiday, closure)")
    async def set_exception(
        self,
        request: Req,
        db_session: DbSession,
        store_id: FromPath[int],
        on_date: FromPath[date],
        data: JSONBody[DayExceptionIn],
    ) -> DayExceptionOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "operate")
        intervals = [] if data.closed else [i.interval() for i in data.intervals]
        if not data.closed and not intervals:
            from core.errors import InvalidInput

            raise InvalidInput("give intervals, or closed: true for a day without opening")
        await set_day_exception(db_session, store_id, on_date, intervals, actor_of(p), note=data.note)
        return DayExceptionOut(on_date, not intervals, [IntervalOut.of(i) for i in sorted(intervals)], data.note)

    @delete("/{store_id:int}/hours/exceptions/{on_date:date}", summary="Back to the weekly hours", status_code=204)
    async def clear_exception(
        self, request: Req, db_session: DbSession, store_id: FromPath[int], on_date: FromPath[date]
    ) -> None:
        p = principal_of(request)
        await authorize_store(db_session, p, store_id, "operate")
        await clear_day_exception(db_session, store_id, on_date, actor_of(p))

    @get("/{store_id:int}/staff", summary="Who works at the store")
    async def staff(self, request: Req, db_session: DbSession, store_id: FromPath[int]) -> list[StaffOut]:
        await authorize_store(db_session, principal_of(request), store_id, "read")
        users = await staff_of_store(db_session, store_id)
        return [
            StaffOut(u.id, u.username, u.display_name, u.role, u.active, await stores_of_user(db_session, u.id))
            for u in users
        ]
