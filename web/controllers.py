"""Pages people use (server-rendered, Jinja2); each area has its module, this list mounts them."""

from __future__ import annotations

from web import consoles, coupon_pages, customer, member_pages

ROUTES = [*customer.ROUTES, *coupon_pages.ROUTES, *member_pages.ROUTES, *consoles.ROUTES]
