"""Customer H5: my orders (paginated) and one order's page (live status, pay / QR pay, cancel, refund requests)."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.params import FromPath, FromQuery

from core.db import DbSession
from orders.errors import OrderNotFound
from orders.queries import find_order, list_orders, list_refunds, order_detail
from shop.services import get_store
from web.render import Req, render, sign_in_redirect, signed_in_customer

ORDERS_PAGE = 20
REFUNDABLE = ("delivered", "picked_up", "completed")
REFUND_LABELS = {"requested": "退款审核中", "approved": "已同意，退款中", "rejected": "已拒绝", "refunded": "已退款"}
FINAL = ("cancelled", "delivered", "picked_up", "completed")


@get("/orders", include_in_schema=False)
async def my_orders(request: Req, db_session: DbSession, page: FromQuery[int] = 1) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    page = max(1, min(page, 10_000))
    found = await list_orders(db_session, customer_id=me.id, page=page, page_size=ORDERS_PAGE)
    pages = max(1, -(-found.total // ORDERS_PAGE))
    return render("orders.html", orders=found.items, page=page, pages=pages, total=found.total)


@get("/orders/{public_id:str}", include_in_schema=False)
async def order_page(request: Req, db_session: DbSession, public_id: FromPath[str]) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    try:
        order = await find_order(db_session, public_id)
    except OrderNotFound:
        order = None
    if order is None or order.customer_id != me.id:
        return render("not_found.html", status_code=404, what="order")
    detail = await order_detail(db_session, order, for_customer=True)
    store = await get_store(db_session, detail.fulfil_store_id or detail.store_id)
    refunds = (await list_refunds(db_session, order_id=order.id, page=1, page_size=20)).items
    refundable_left = (detail.paid_fen + detail.stored_value_fen) - detail.refunded_fen
    can_refund = (
        detail.status in REFUNDABLE and refundable_left > 0 and not any(r.status == "requested" for r in refunds)
    )
    payment = request.query_params.get("pay")  # ok | fail | cancel | qr, from the checkout's pay step
    return render(
        "order.html",
        o=detail,
        store=store,
        shop=store,
        payment=payment if payment in ("ok", "fail", "cancel", "qr") else None,
        refunds=refunds,
        refund_labels=REFUND_LABELS,
        can_refund=can_refund,
        can_cancel=detail.status not in FINAL and not detail.cancel_requested,
    )


ROUTES = [my_orders, order_page]
