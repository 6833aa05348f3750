"""Customers' phone numbers reach staff, finance and admin masked (139****0000) on every API that shows an order
or a delivery; only the customer sees their own number in full."""

from __future__ import annotations

import httpx

from tests.security.world import World, build_world

FULL = "13900000000"  # the address phone of the world's urgent orders (tests/integration/delivery/city.py)
MASKED = "139****0000"


async def test_staff_finance_and_admin_see_masked_phones(http: httpx.AsyncClient) -> None:
    w: World = await build_world(http)
    order = w.urgent_claimed_a
    views = {
        "staff_a": [
            f"/api/staff/orders/{order}",
            "/api/staff/orders?stage=all",
            "/api/staff/orders?stage=active",
            f"/api/staff/dispatches/{order}",
            f"/api/staff/dispatches/{order}/timeline",
            "/api/staff/dispatches",
            "/api/staff/offers?status=",
            "/api/staff/refunds",
            "/api/engage/inbox?status=all",
        ],
        "finance": [f"/api/admin/orders/{order}", "/api/admin/orders", "/api/admin/refunds"],
        "admin": [f"/api/admin/orders/{order}", "/api/admin/orders", f"/api/staff/orders/{order}"],
    }
    seen_masked = 0
    for role, urls in views.items():
        for url in urls:
            r = await http.get(url, headers=w.headers[role])
            assert r.status_code == 200, (role, url, r.text)
            assert FULL not in r.text, f"{role} sees the customer's full phone number on {url}"
            seen_masked += MASKED in r.text
    assert seen_masked >= 3  # the order details show the masked number (the lists need not show it at all)

    mine = await http.get(f"/api/orders/{order}", headers=w.headers["customer_a"])
    assert mine.status_code == 200 and mine.json()["address"]["phone"] == FULL
