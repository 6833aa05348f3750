"""Customer H5 pages (Chinese, mobile-first): storefront, cart/checkout, my orders, the order page.

Pages call the domain services in the request's own transaction; web/static/h5.js calls the domains' JSON APIs
for the interactive steps (cart quantities, quote, place, pay, cancel).
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.params import FromPath, FromQuery

from core.db import DbSession
from core.errors import NotFound
from orders.errors import OrderNotFound
from orders.queries import find_order, list_orders, order_detail
from orders.services import get_cart
from shop.catalogue.services import category_tree
from shop.services import get_store, nearest_stores, store_catalogue
from web.render import Req, render, sign_in_redirect, signed_in_customer


async def _pick_store(db: DbSession, store: int | None, lat: float | None, lng: float | None) -> Any | None:
    """The store asked for, else the nearest open one to (lat, lng), else the first active store."""
    from sqlalchemy import select

    from shop.stores.models import Store

    if store is not None:
        try:
            found = await get_store(db, store)
        except NotFound:
            found = None
        if found is not None and found.status == "active":
            return found
    if lat is not None and lng is not None:
        near = await nearest_stores(db, lat, lng, limit=1, open_now=True)
        if near:
            return await get_store(db, near[0].store_id)
    return await db.scalar(select(Store).where(Store.status == "active").order_by(Store.id).limit(1))


@get("/", include_in_schema=False)
async def home(
    request: Req,
    db_session: DbSession,
    store: FromQuery[int | None] = None,
    q: FromQuery[str | None] = None,
    category: FromQuery[int | None] = None,
    lat: FromQuery[float | None] = None,
    lng: FromQuery[float | None] = None,
) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    shop = await _pick_store(db_session, store, lat, lng)
    if shop is None:
        return render("home.html", shop=None, products=[], categories=[], q=q, category=category, cart_count=0)
    q = (q or "").strip()[:50] or None
    page = await store_catalogue(db_session, shop.id, category_id=category, q=q, page=1, page_size=50)
    cats = await category_tree(db_session)
    cart = await get_cart(db_session, me.id, shop.id)
    qty = {x.sku_id: x.qty for x in cart.items}
    return render(
        "home.html",
        shop=shop,
        products=page.items,
        total=page.total,
        categories=cats,
        q=q,
        category=category,
        qty=qty,
        cart_count=sum(qty.values()),
    )


@get("/cart", include_in_schema=False)
async def cart_page(request: Req, db_session: DbSession, store: FromQuery[int | None] = None) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    shop = await _pick_store(db_session, store, None, None)
    if shop is None:
        return render("cart.html", shop=None, cart=None)
    cart = await get_cart(db_session, me.id, shop.id)
    return render("cart.html", shop=shop, cart=cart)


@get("/orders", include_in_schema=False)
async def my_orders(request: Req, db_session: DbSession) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    page = await list_orders(db_session, customer_id=me.id, page=1, page_size=50)
    return render("orders.html", orders=page.items)


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
        return render("not_found.html", status_code=404)
    detail = await order_detail(db_session, order, for_customer=True)
    store = await get_store(db_session, detail.fulfil_store_id or detail.store_id)
    return render("order.html", o=detail, store=store, pay=request.query_params.get("pay") == "1")


ROUTES = [home, cart_page, my_orders, order_page]
