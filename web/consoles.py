"""Consoles for people at work: store staff (/staff), finance (/finance), HQ admin (/admin)."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.params import FromQuery

from core.auth import current_principal
from core.db import DbSession
from orders.queries import list_orders
from orders.status import allowed_next
from shop.services import stores_of_user
from web.render import Req, render

STAGES = {"new": "新订单", "active": "进行中", "cancel_requests": "取消申请", "done": "已完成"}
STAFF_ROLES = ("staff", "admin")


@get("/staff", include_in_schema=False)
async def staff_console(request: Req, db_session: DbSession, stage: FromQuery[str] = "new") -> Response[Any]:
    """The store staff console: sign-in, live urgent offers (claim/decline) and the order board by stage."""
    from core.users import get_user
    from shop.stores.models import Store

    p = current_principal(request)
    if p is None or not p.is_user or p.role not in STAFF_ROLES:
        return render("staff_login.html", wrong_role=p is not None, console="门店工作台", who="门店员工")
    user = await get_user(db_session, p.id)
    if stage not in STAGES:
        stage = "new"
    store_ids = await stores_of_user(db_session, p.id)
    stores = [await db_session.get(Store, i) for i in store_ids]
    page = await list_orders(db_session, store_ids=store_ids, stage=stage, page=1, page_size=50, oldest_first=True)
    actions = {
        o.id: [s for s in allowed_next(o.kind, o.status) if s not in ("paid", "reviewing", "dispatching")]
        for o in page.items
    }
    return render(
        "staff.html",
        user=user,
        stores=stores,
        stage=stage,
        stages=STAGES,
        orders=page.items,
        actions=actions,
    )


@get("/finance", include_in_schema=False)
async def finance_console(request: Req, db_session: DbSession) -> Response[Any]:
    """Finance: the last 30 days' summary with reconciliation status, the open mismatch queue, downloads."""
    from payments import exports, reports

    p = current_principal(request)
    if p is None or not p.is_user or p.role not in ("finance", "admin"):
        return render("staff_login.html", wrong_role=p is not None, console="财务对账台", who="财务")
    first, last = reports.default_range()
    days = await reports.daily_summary(db_session, first, last)
    totals = reports.totals(days)
    queue = await reports.mismatches(db_session, status="open", limit=200)
    return render(
        "finance.html",
        days=list(reversed(days)),
        totals=totals,
        mismatches=queue,
        kind_names=exports.KIND_NAMES,
        status_names=exports.STATUS_NAMES,
        reports=list(exports.HEADERS),
    )


@get("/admin", include_in_schema=False)
async def admin_console(request: Req) -> Response[Any]:
    """HQ admin landing page: where each console and the API live (the admin screens come next)."""
    p = current_principal(request)
    if p is None or not p.is_user or p.role != "admin":
        return render("staff_login.html", wrong_role=p is not None, console="总部管理后台", who="管理员")
    return render("admin.html")


ROUTES = [staff_console, finance_console, admin_console]
