"""Consoles for people at work: store staff (/staff), finance (/finance), HQ admin (/admin). Each console has
its module; this list mounts them."""

from __future__ import annotations

from web import console_admin, console_finance, console_staff

ROUTES = [*console_staff.ROUTES, *console_finance.ROUTES, *console_admin.ROUTES]
