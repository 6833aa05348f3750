"""Customer H5 pages (Chinese, mobile-first): storefront, store switcher, product page, cart/checkout.

Pages call the domain services in the request's own transaction; web/static/h5.js calls the domains' JSON APIs
for the interactive steps (cart quantities, quote, place, pay, cancel, refund). The orders pages live in
web/customer_orders.py; this module's ROUTES mounts both.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.params import FromPath, FromQuery

from core.db import DbSession
from core.errors import InvalidInput, NotFound
from orders.services import get_cart
from shop.catalogue.services import category_tree
from shop.services import get_product, store_catalogue, store_product
from web import customer_orders
from web.render import Req, render, sign_in_redirect, signed_in_customer
from web.store_choice import (
    STORE_COOKIE,
    pick_store,
    pickup_slots,
    remember_store,
    saved_addresses,
    store_list,
)

CATALOGUE_PAGE = 30


def _point(lat: float | None, lng: float | None) -> tuple[float, float] | None:
    if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return lat, lng


@get("/", include_in_schema=False)
async def home(
    request: Req,
    db_session: DbSession,
    store: FromQuery[int | None] = None,
    q: FromQuery[str | None] = None,
    category: FromQuery[int | None] = None,
    lat: FromQuery[float | None] = None,
    lng: FromQuery[float | None] = None,
    page: FromQuery[int] = 1,
) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    choice = await pick_store(db_session, me.id, store, _point(lat, lng), request.cookies.get(STORE_COOKIE))
    shop = choice.store
    if shop is None:
        return render("home.html", shop=None, products=[], categories=[], q=q, category=category, cart_count=0)
    q = (q or "").strip()[:50] or None
    page = max(1, min(page, 1000))
    catalogue = await store_catalogue(
        db_session, shop.id, category_id=category, q=q, page=page, page_size=CATALOGUE_PAGE
    )
    cats = await category_tree(db_session)
    cart = await get_cart(db_session, me.id, shop.id)
    qty = {x.sku_id: x.qty for x in cart.items}
    response = render(
        "home.html",
        shop=shop,
        products=catalogue.items,
        total=catalogue.total,
        page=page,
        pages=max(1, -(-catalogue.total // CATALOGUE_PAGE)),
        categories=cats,
        q=q,
        category=category,
        qty=qty,
        cart_count=sum(qty.values()),
        open_now=choice.open_now,
        distance_m=choice.distance_m,
        locate=choice.source == "fallback",
    )
    return remember_store(response, shop.id, choice)


@get("/stores", include_in_schema=False)
async def stores_page(
    request: Req,
    db_session: DbSession,
    lat: FromQuery[float | None] = None,
    lng: FromQuery[float | None] = None,
    q: FromQuery[str | None] = None,
) -> Response[Any]:
    """The store switcher: stores nearest first (when the location is known), open or closed, searchable by name."""
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    q = (q or "").strip()[:50] or None
    point = _point(lat, lng)
    rows = await store_list(db_session, point, q)
    current = request.cookies.get(STORE_COOKIE)
    return render(
        "stores.html",
        rows=rows,
        q=q,
        lat=point[0] if point else None,
        lng=point[1] if point else None,
        current=int(current) if current and current.isdigit() else None,
    )


@get("/products/{product_id:int}", include_in_schema=False)
async def product_page(
    request: Req, db_session: DbSession, product_id: FromPath[int], store: FromQuery[int | None] = None
) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    choice = await pick_store(db_session, me.id, store, None, request.cookies.get(STORE_COOKIE))
    shop = choice.store
    product = None
    if shop is not None:
        try:
            product = await store_product(db_session, shop.id, product_id)
        except (NotFound, InvalidInput):
            product = None
    if product is None:
        return render("not_found.html", status_code=404, shop=shop, what="product")
    description = (await get_product(db_session, product_id)).description
    cart = await get_cart(db_session, me.id, shop.id)  # type: ignore[union-attr]
    qty = {x.sku_id: x.qty for x in cart.items}
    return render("product.html", shop=shop, p=product, description=description, qty=qty, cart_count=sum(qty.values()))


@get("/cart", include_in_schema=False)
async def cart_page(request: Req, db_session: DbSession, store: FromQuery[int | None] = None) -> Response[Any]:
    me = signed_in_customer(request)
    if me is None:
        return sign_in_redirect(request)
    choice = await pick_store(db_session, me.id, store, None, request.cookies.get(STORE_COOKIE))
    shop = choice.store
    if shop is None:
        return render("cart.html", shop=None, cart=None)
    cart = await get_cart(db_session, me.id, shop.id)
    return render(
        "cart.html",
        shop=shop,
        cart=cart,
        addresses=await saved_addresses(db_session, me.id),
        slots=await pickup_slots(db_session, shop.id),
    )


ROUTES = [home, stores_page, product_page, cart_page, *customer_orders.ROUTES]
