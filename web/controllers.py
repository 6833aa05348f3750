"""Pages people use (server-rendered, Jinja2); each area has its module, this list mounts them."""

from __future__ import annotations

from web import consoles, coupon_pages, customer

ROUTES = [*customer.ROUTES, *coupon_pages.ROUTES, *consoles.ROUTES]
