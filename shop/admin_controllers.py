"""HQ admin API across stores: staff accounts, the audit log, customers, official accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import func, select

from core.auth import user_guard
from core.db import DbSession
from core.users import User
from shop.access import actor_of, authorize_store, principal_of, require_role
from shop.audit import AuditEntry
from shop.customers.models import OfficialAccount
from shop.customers.schemas import AccountIn, AccountOut, CustomerAdminOut, CustomerPage
from shop.customers.services import create_account, customers_page, get_customer
from shop.errors import not_found
from shop.pagination import check_page
from shop.staff import create_staff_account, set_user_active, users_page
from shop.stores.schemas import StaffOut
from shop.stores.services import set_staff_stores, stores_of_user
from shop.strict import strict_body

PageNo = Annotated[int, QueryParameter(ge=1, le=100_000)]
PageSize = Annotated[int, QueryParameter(ge=1, le=100)]
Req = Request[Any, Any, Any]


class StaffIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.@-]{3,64}$")]
    password: Annotated[str, Meta(min_length=8, max_length=200)]
    role: Literal["staff", "finance", "admin"]
    display_name: Annotated[str, Meta(max_length=100)] = ""
    store_ids: list[int] = []


class StaffPatch(msgspec.Struct, forbid_unknown_fields=True):
    active: bool | UnsetType = UNSET


class StoreIdsIn(msgspec.Struct, forbid_unknown_fields=True):
    store_ids: Annotated[list[int], Meta(max_length=500)]


class StaffPage(msgspec.Struct):
    items: list[StaffOut]
    total: int
    page: int
    page_size: int


class AuditOut(msgspec.Struct):
    id: int
    actor: str
    actor_role: str
    action: str
    entity: str
    entity_id: str
    store_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    at: datetime


class AuditPage(msgspec.Struct):
    items: list[AuditOut]
    total: int
    page: int
    page_size: int


class StaffAdminController(Controller):
    path = "/api/admin/staff"
    tags = ["admin: staff"]
    guards = [user_guard]

    @get("/", summary="Accounts with their roles and stores (admin)")
    async def list_(
        self,
        request: Req,
        db_session: DbSession,
        role: FromQuery[str | None] = None,
        store_id: FromQuery[int | None] = None,
        page: PageNo = 1,
        page_size: PageSize = 50,
    ) -> StaffPage:
        await require_role(db_session, principal_of(request))
        result = await users_page(db_session, role=role, store_id=store_id, page=page, page_size=page_size)
        items = [StaffOut(u.id, u.username, u.display_name, u.role, u.active, s) for u, s in result.items]
        return StaffPage(items, result.total, page, page_size)

    @post("/", summary="Create a staff (linked to stores), finance or admin account (admin)")
    async def create(self, request: Req, db_session: DbSession, data: JSONBody[StaffIn]) -> StaffOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        user, stores = await create_staff_account(
            db_session,
            actor_of(p),
            username=data.username,
            password=data.password,
            role=data.role,
            display_name=data.display_name,
            store_ids=data.store_ids,
        )
        return StaffOut(user.id, user.username, user.display_name, user.role, user.active, stores)

    @put("/{user_id:int}/stores", summary="The stores a staff account works at (admin)")
    async def set_stores(
        self, request: Req, db_session: DbSession, user_id: FromPath[int], data: JSONBody[StoreIdsIn]
    ) -> list[int]:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        return await set_staff_stores(db_session, user_id, data.store_ids, actor_of(p))

    @patch("/{user_id:int}", summary="Switch an account off or on (admin)")
    async def change(
        self, request: Req, db_session: DbSession, user_id: FromPath[int], data: JSONBody[StaffPatch]
    ) -> StaffOut:
        data = await strict_body(request, data)
        p = principal_of(request)
        await require_role(db_session, p)
        user = await db_session.get(User, user_id)
        if user is None:
            raise not_found("user", user_id)
        if data.active is not UNSET:
            user = await set_user_active(db_session, user_id, bool(data.active), actor_of(p))
        stores = await stores_of_user(db_session, user_id)
        return StaffOut(user.id, user.username, user.display_name, user.role, user.active, stores)


class AuditController(Controller):
    path = "/api/admin/audit"
    tags = ["admin: audit"]
    guards = [user_guard]

    @get("/", summary="Who changed which price, stock or setting (admin, finance; staff for their store)")
    async def entries(
        self,
        request: Req,
        db_session: DbSession,
        store_id: FromQuery[int | None] = None,
        entity: FromQuery[str | None] = None,
        entity_id: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
        page: PageNo = 1,
        page_size: PageSize = 50,
    ) -> AuditPage:
        p = principal_of(request)
        if store_id is not None:
            await authorize_store(db_session, p, store_id, "read")
        else:
            await require_role(db_session, p, "finance")
        limit, offset = check_page(page, page_size)
        q = select(AuditEntry)
        for col, value in (
            (AuditEntry.store_id, store_id),
            (AuditEntry.entity, entity),
            (AuditEntry.entity_id, entity_id),
            (AuditEntry.action, action),
        ):
            if value is not None:
                q = q.where(col == value)
        total = await db_session.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = (await db_session.scalars(q.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))).all()
        items = [
            AuditOut(
                r.id,
                r.actor,
                r.actor_role,
                r.action,
                r.entity,
                r.entity_id,
                r.store_id,
                r.before,
                r.after,
                r.reason,
                r.at,
            )
            for r in rows
        ]
        return AuditPage(items, total, page, page_size)


class CustomerAdminController(Controller):
    path = "/api/admin/customers"
    tags = ["admin: customers"]
    guards = [user_guard]

    @get("/", summary="Customers (admin, finance)")
    async def list_(
        self,
        request: Req,
        db_session: DbSession,
        q: FromQuery[str | None] = None,
        page: PageNo = 1,
        page_size: PageSize = 50,
    ) -> CustomerPage:
        await require_role(db_session, principal_of(request), "finance")
        result = await customers_page(db_session, q=q, page=page, page_size=page_size)
        return CustomerPage([CustomerAdminOut.of(c) for c in result.items], result.total, page, page_size)

    @get("/{customer_id:int}", summary="One customer (admin, finance)")
    async def read(self, request: Req, db_session: DbSession, customer_id: FromPath[int]) -> CustomerAdminOut:
        await require_role(db_session, principal_of(request), "finance")
        return CustomerAdminOut.of(await get_customer(db_session, customer_id))


class OfficialAccountController(Controller):
    path = "/api/admin/official-accounts"
    tags = ["admin: official accounts"]
    guards = [user_guard]

    @get("/", summary="Official accounts (admin)")
    async def list_(self, request: Req, db_session: DbSession) -> list[AccountOut]:
        await require_role(db_session, principal_of(request))
        rows = (await db_session.scalars(select(OfficialAccount).order_by(OfficialAccount.id))).all()
        return [AccountOut.of(a) for a in rows]

    @post("/", summary="Add an official account of the brand/region matrix (admin)")
    async def create(self, request: Req, db_session: DbSession, data: JSONBody[AccountIn]) -> AccountOut:
        data = await strict_body(request, data)
        await require_role(db_session, principal_of(request))
        account = await create_account(
            db_session, appid=data.appid, name=data.name, secret=data.secret, token=data.token, aes_key=data.aes_key
        )
        return AccountOut.of(account)
