"""The store staff console (/staff): live urgent offers, the order board by stage, stock levels with
adjustments, the busy toggle that pauses urgent offers, and the member QR check. Interactive steps call the
domains' JSON APIs from web/static/staff.js; this module renders what the page shows first."""

from __future__ import annotations

import importlib.util
from typing import Any

from litestar import Response, get
from litestar.params import FromQuery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal, current_principal
from core.db import DbSession
from delivery.toggle_busy import busy_state
from orders.models import Order
from orders.queries import list_orders
from orders.status import allowed_next
from shop.pagination import check_page
from shop.services import stores_of_user
from shop.stock.services import stock_page
from shop.stores.models import Store
from web.render import Req, render

STAGES = {"new": "新订单", "active": "进行中", "cancel_requests": "取消申请", "done": "已完成"}
STAFF_ROLES = ("staff", "admin")
PAGE_SIZE = 30
# The members domain's in-store check (shop/members/controllers.py on the members branch): {"code": token}.
MEMBER_VERIFY_API = "/api/staff/stores/{store_id}/member-code/verify"


def mask_phone(phone: str | None) -> str:
    """138****1234: staff see enough to call the right customer, not the whole number."""
    if not phone:
        return ""
    digits = phone.strip()
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * len(digits)


def staff_principal(request: Req) -> Principal | None:
    p = current_principal(request)
    return p if p is not None and p.is_user and p.role in STAFF_ROLES else None


def login_page(request: Req) -> Response[Any]:
    return render(
        "staff_login.html", wrong_role=current_principal(request) is not None, console="门店工作台", who="门店员工"
    )


async def _contacts(session: AsyncSession, public_ids: list[str]) -> dict[str, dict[str, str]]:
    if not public_ids:
        return {}
    rows = await session.execute(
        select(Order.public_id, Order.contact_name, Order.contact_phone, Order.address_text).where(
            Order.public_id.in_(public_ids)
        )
    )
    return {
        r.public_id: {
            "name": r.contact_name or "",
            "phone": mask_phone(r.contact_phone),
            "address": r.address_text or "",
        }
        for r in rows
    }


async def _my_stores(session: AsyncSession, p: Principal) -> list[Store]:
    """The stores this user works at; an HQ admin without stores of their own sees the first 50."""
    ids = await stores_of_user(session, p.id)
    if not ids and p.role == "admin":
        ids = list(
            (await session.scalars(select(Store.id).where(Store.status == "active").order_by(Store.id).limit(50))).all()
        )
    stores = [await session.get(Store, i) for i in ids]
    return [s for s in stores if s is not None]


@get("/staff", include_in_schema=False)
async def staff_console(
    request: Req, db_session: DbSession, stage: FromQuery[str] = "new", page: FromQuery[int] = 1
) -> Response[Any]:
    """Offers (live), the order board of the chosen stage (only this user's stores), busy toggles."""
    from core.users import get_user

    p = staff_principal(request)
    if p is None:
        return login_page(request)
    user = await get_user(db_session, p.id)
    stage = stage if stage in STAGES else "new"
    page = max(1, min(page, 10_000))
    stores = await _my_stores(db_session, p)
    # The board's scope is the staff API's (orders/api_staff.py): their stores; every store for an HQ admin.
    linked = await stores_of_user(db_session, p.id)
    scope = None if p.role == "admin" and not linked else [s.id for s in stores]
    board = await list_orders(
        db_session, store_ids=scope, stage=stage, page=page, page_size=PAGE_SIZE, oldest_first=stage != "done"
    )
    actions = {
        o.id: [s for s in allowed_next(o.kind, o.status) if s not in ("paid", "reviewing", "dispatching")]
        for o in board.items
    }
    busy = {s.id: await busy_state(db_session, s.id) for s in stores}
    return render(
        "staff.html",
        user=user,
        stores=stores,
        busy=busy,
        stage=stage,
        stages=STAGES,
        orders=board.items,
        total=board.total,
        page=page,
        pages=max(1, -(-board.total // PAGE_SIZE)),
        contacts=await _contacts(db_session, [o.id for o in board.items]),
        actions=actions,
        tab="orders",
    )


@get("/staff/stock", include_in_schema=False)
async def staff_stock(
    request: Req,
    db_session: DbSession,
    store: FromQuery[int | None] = None,
    page: FromQuery[int] = 1,
    low: FromQuery[bool] = False,
) -> Response[Any]:
    """Stock levels of one of my stores, paginated, with the adjustment form on each line."""
    p = staff_principal(request)
    if p is None:
        return login_page(request)
    stores = await _my_stores(db_session, p)
    if not stores:
        return render("staff_stock.html", stores=[], store=None, levels=[], tab="stock", page=1, pages=1, low=low)
    chosen = next((s for s in stores if s.id == store), None)
    if store is not None and chosen is None:
        return render(
            "staff_stock.html",
            status_code=403,
            stores=stores,
            store=None,
            levels=[],
            tab="stock",
            page=1,
            pages=1,
            low=low,
            error="你不在这家门店工作，不能查看它的库存。",
        )
    chosen = chosen or stores[0]
    page = max(1, min(page, 10_000))
    check_page(page, PAGE_SIZE)
    levels = await stock_page(db_session, chosen.id, page=page, page_size=PAGE_SIZE, low_only=low)
    return render(
        "staff_stock.html",
        stores=stores,
        store=chosen,
        levels=levels.items,
        total=levels.total,
        page=page,
        pages=max(1, -(-levels.total // PAGE_SIZE)),
        low=low,
        tab="stock",
    )


@get("/staff/member", include_in_schema=False)
async def staff_member(request: Req, db_session: DbSession) -> Response[Any]:
    """Scan or type a customer's member QR token; the check runs against the members API when it exists."""
    p = staff_principal(request)
    if p is None:
        return login_page(request)
    enabled = importlib.util.find_spec("shop.members") is not None
    stores = await _my_stores(db_session, p)
    return render(
        "staff_member.html", tab="member", members_enabled=enabled, verify_api=MEMBER_VERIFY_API, stores=stores
    )


ROUTES = [staff_console, staff_stock, staff_member]
