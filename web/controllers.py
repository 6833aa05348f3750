"""Pages people use (server-rendered, Jinja2); each area has its module, this list mounts them."""

from __future__ import annotations

from web import consoles, customer, member_pages

ROUTES = [*customer.ROUTES, *consoles.ROUTES, *member_pages.ROUTES]
