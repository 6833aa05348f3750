"""Access-control matrix, generated from the app's route table: every route with a path parameter is called by
every role and by a second tenant of the same role (customer B, staff of store B) on tenant A's resources.

Only the owner or the right role gets data; everyone else gets 401/403/404, never 200 and never a 5xx. A route
that takes an id and is not classified below fails `test_every_id_route_is_classified`, so a new route cannot
slip in without someone deciding who may call it (and the matrix then proves the guard exists).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.shop.test_shop_access import STORE_ROUTES
from tests.security.world import ROLES, World, build_world

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
DENIED = {401, 403, 404}
SKIPPED_METHODS = {"OPTIONS", "HEAD"}

# Intentionally public routes with an id-like parameter, and why.
PUBLIC: dict[str, str] = {
    r"^/static/": "vendored JS/CSS, no data",
    r"^/schema(/|$)": "the OpenAPI document and its renderers",
    r"^/sandbox(/|$)": "the dev-only WeChat simulator (mounted only when O2O_ENV is dev/test)",
    r"^/wechat/message/\{appid": "WeChat's server callback, authenticated by WeChat's signature, not a session",
    r"^/\{filename": "WeChat domain-verification files (MP_verify_*.txt), public by WeChat's design",
    r"^/api/stores/\{store_id[^}]*\}$": "a store's public card (name, address, hours) for the H5 shop",
    r"^/api/stores/\{store_id[^}]*\}/(catalogue|products/)": "a store's public catalogue and prices",
    r"^/api/catalogue/products/\{": "the public catalogue",
}

CUSTOMER_A = frozenset({"customer_a"})
CUSTOMERS = frozenset({"customer_a", "customer_b"})
STAFF_A = frozenset({"staff_a", "admin"})
ANY_STAFF = frozenset({"staff_a", "staff_b", "admin"})
USERS = frozenset({"staff_a", "staff_b", "finance", "admin"})
FINANCE = frozenset({"finance", "admin"})
ADMIN = frozenset({"admin"})
SHOP_NEEDS = {"read": frozenset({"staff_a", "finance", "admin"}), "operate": STAFF_A, "manage": ADMIN}

# (methods or "*", path regex, who may call it on tenant A's resource, why). First match wins.
POLICY: list[tuple[str, str, frozenset[str], str]] = [
    ("*", r"^/api/orders/\{order_id[^}]*\}", CUSTOMER_A, "a customer's own order (refunds, cancel, dispatch view)"),
    ("*", r"^/api/customer/addresses/\{", CUSTOMER_A, "a customer's own address"),
    ("*", r"^/api/payments/\{", CUSTOMER_A, "a customer's own payment"),
    (
        "*",
        r"^/api/cart/\{store_id",
        frozenset({"customer_a", "customer_b"}),
        "the caller's own cart; the store id only picks the store",
    ),
    ("*", r"^/api/staff/", STAFF_A, "staff act only for their own stores (admin for all)"),
    ("GET", r"^/api/admin/stores/\{store_id[^}]*\}/order-settings", FINANCE, "payment terms: finance reads"),
    ("PUT", r"^/api/admin/stores/\{store_id[^}]*\}/order-settings", ADMIN, "payment terms: HQ sets them"),
    ("GET", r"^/api/admin/orders/\{", FINANCE, "every order, for finance and HQ"),
    ("GET", r"^/api/admin/customers/\{", FINANCE, "customer records, for finance and HQ"),
    ("GET", r"^/api/admin/catalogue/products/\{", USERS, "the catalogue with inactive products, any signed-in user"),
    ("*", r"^/api/admin/catalogue/", ADMIN, "catalogue changes are HQ's"),
    ("*", r"^/api/admin/staff/\{", ADMIN, "accounts are HQ's"),
    ("*", r"^/api/finance/", FINANCE, "finance only"),
    ("*", r"^/api/engage/(rules|verify-files)/\{", ADMIN, "the official account's settings are HQ's"),
    ("*", r"^/api/engage/inbox/\{", ANY_STAFF, "the account's agent inbox is shared by every store's staff"),
    ("GET", r"^/api/engage/qrcodes/\{", STAFF_A, "a store's QR code: its staff and HQ"),
    ("GET", r"^/orders/\{public_id", CUSTOMER_A, "the customer's order page"),
    ("GET", r"^/products/\{", CUSTOMERS, "the H5 product page, for any signed-in customer"),
    ("GET", r"^/coupons/claim/\{", CUSTOMERS, "the H5 claim page of a coupon template, for any signed-in customer"),
    ("POST", r"^/api/coupons/claim/\{", CUSTOMERS, "any customer claims a coupon for themself"),
    ("GET", r"^/api/admin/coupons/templates/\{", FINANCE, "coupon templates: finance reads"),
    ("*", r"^/api/admin/coupons/", ADMIN, "coupon templates and issuing are HQ's"),
    ("*", r"^/api/engage/coupons/\{", ADMIN, "issuing coupons to a segment is HQ's"),
    ("*", r"^/api/admin/members/", ADMIN, "member levels and top-up plans are HQ's"),
    ("GET", r"^/api/member/topups/\{", CUSTOMER_A, "a customer's own top-up"),
    ("GET", r"^/member/qr/\{", CUSTOMER_A, "the QR image of the customer's own member code"),
]

# Path values that differ from World.ids() for some routes.
OVERRIDES: list[tuple[str, dict[str, str]]] = [
    (r"^/api/orders/\{order_id[^}]*\}/dispatch", {"order_id": "urgent_claimed_a"}),
    (r"^/api/staff/dispatches/\{order_id[^}]*\}/claim", {"order_id": "urgent_offered_a"}),
    (r"^/api/staff/dispatches/", {"order_id": "urgent_claimed_a"}),
    (r"^/api/payments/\{", {"order_id": "unpaid_a"}),
]

# Valid bodies for unsafe routes, so a refusal proves the guard rather than a validation error.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/orders/{order_id}/refunds"): {"reason": "包装破损"},
    ("POST", "/api/orders/{order_id}/cancel"): {"reason": "不想要了"},
    ("PATCH", "/api/customer/addresses/{address_id}"): {"detail": "5 楼"},
    ("PUT", "/api/cart/{store_id}/items/{sku_id}"): {"qty": 1},
    ("POST", "/api/staff/orders/{order_id}/transition"): {"to": "preparing"},
    ("POST", "/api/staff/orders/{order_id}/cancel"): {"reason": "缺货"},
    ("POST", "/api/staff/orders/{order_id}/cancel-request"): {"approve": False, "reason": "已出库"},
    ("POST", "/api/staff/orders/{order_id}/review"): {"approve": True},
    ("POST", "/api/staff/refunds/{refund_id}/decision"): {"approve": False, "reason": "照片不清楚"},
    ("POST", "/api/staff/offers/{offer_id}/decline"): {"reason": "busy"},
    ("POST", "/api/staff/dispatches/{order_id}/claim"): {"store_id": "store_a"},
    ("POST", "/api/staff/dispatches/{order_id}/stage"): {"stage": "preparing"},
    ("POST", "/api/staff/dispatches/{order_id}/courier"): {"user_id": "staff_a_id"},
    ("POST", "/api/staff/dispatches/{order_id}/deliver"): {"handoff_code": "000000"},
    ("POST", "/api/staff/stores/{store_id}/urgent-busy"): {"busy": True, "minutes": 30},
    ("PUT", "/api/admin/stores/{store_id}/order-settings"): {"payment_deadline_minutes": 20},
    ("PATCH", "/api/admin/catalogue/categories/{category_id}"): {"name": "改名"},
    ("PATCH", "/api/admin/catalogue/products/{product_id}"): {"title": "改名"},
    ("POST", "/api/admin/catalogue/products/{product_id}/skus"): {"code": "SKU-NEW", "spec": "盒", "base_price_fen": 1},
    ("PATCH", "/api/admin/catalogue/skus/{sku_id}"): {"base_price_fen": 999},
    ("PATCH", "/api/admin/staff/{user_id}"): {"active": True},
    ("PUT", "/api/admin/staff/{user_id}/stores"): {"store_ids": ["store_a"]},
    ("POST", "/api/finance/settlements/{statement_id}/confirm"): {},
    ("POST", "/api/finance/mismatches/{mismatch_id}/resolve"): {"note": "已核对"},
    ("PUT", "/api/finance/settlement-terms/{store_id}"): {"commission_bp": 500},
    ("PATCH", "/api/engage/rules/{rule_id}"): {"active": False},
    ("PATCH", "/api/admin/coupons/templates/{template_id}"): {"title": "满50减5（改）"},
    ("POST", "/api/admin/coupons/templates/{template_id}/issue"): {"customer_ids": ["customer_b"]},
    ("PATCH", "/api/admin/members/levels/{level_id}"): {"name": "金卡会员"},
    ("POST", "/api/staff/stores/{store_id}/member-code/verify"): {"code": "member_token_a"},
    ("PATCH", "/api/admin/members/topup-plans/{plan_id}"): {"name": "充100送10元"},
    ("POST", "/api/engage/inbox/{message_id}/reply"): {"content": "您好"},
}
for _method, _path, _body, _need in STORE_ROUTES:
    BODIES[
        (_method, _path.replace("{s}", "{store_id}").replace("{k}", "{sku_id}").replace("2026-10-01", "{on_date}"))
    ] = _body


def template(path: str) -> str:
    return PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def id_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every handler whose path takes a parameter."""
    found = []
    for route in app.routes:
        if not PARAM.search(route.path):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(set(getattr(handler, "http_methods", None) or {"GET"}) - SKIPPED_METHODS):
                found.append((method, route.path))
    return sorted(set(found))


def public_reason(path: str) -> str | None:
    return next((why for pattern, why in PUBLIC.items() if re.search(pattern, path)), None)


def allowed(method: str, path: str) -> frozenset[str] | None:
    plain = template(path)
    if plain.startswith("/api/admin/stores/{store_id}") and not plain.endswith("/order-settings"):
        for m, p, _, need in STORE_ROUTES:
            shaped = p.replace("{s}", "{store_id}").replace("{k}", "{sku_id}").replace("2026-10-01", "{on_date}")
            if m == method and shaped.split("?")[0] == plain:
                return SHOP_NEEDS[need]
        return None
    for methods, pattern, who, _ in POLICY:
        if (methods == "*" or method in methods.split(",")) and re.search(pattern, plain):
            return who
    return None


def test_every_id_route_is_classified(app: Any) -> None:
    missing = [f"{m} {p}" for m, p in id_routes(app) if public_reason(p) is None and allowed(m, p) is None]
    assert not missing, "routes with an id and no entry in the access matrix (add a POLICY line):\n" + "\n".join(
        missing
    )


def url_for(path: str, w: World) -> str:
    ids = w.ids()
    for pattern, names in OVERRIDES:
        if re.search(pattern, template(path)):
            ids.update({k: getattr(w, v) for k, v in names.items()})
    ids.setdefault("public_id", w.order_a)
    ids.setdefault("statement_id", 1)
    ids.setdefault("mismatch_id", 1)
    ids.setdefault("filename", "MP_verify_abc.txt")
    ids.setdefault("report", "summary")
    # A parameter the world has no resource for gets 1: the route is still called by every role.
    url = PARAM.sub(lambda m: str(ids.get(m.group(1), 1)), path)
    # Routes that also need a query parameter naming tenant A's resource.
    if re.search(r"^/api/staff/coupons/\{code", template(path)):
        url += f"?store_id={w.store_a}"
    return url


def body_for(method: str, path: str, w: World) -> Any:
    body = BODIES.get((method, template(path)))
    if isinstance(body, dict):
        return {k: (getattr(w, v) if isinstance(v, str) and hasattr(w, v) else v) for k, v in body.items()} | {
            k: [getattr(w, x) if isinstance(x, str) and hasattr(w, x) else x for x in v]
            for k, v in body.items()
            if isinstance(v, list)
        }
    return body


async def call(http: httpx.AsyncClient, method: str, url: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    if isinstance(body, str):
        return await http.request(method, url, content=body.encode(), headers={**headers, "Content-Type": "text/csv"})
    if method in ("GET", "DELETE"):
        return await http.request(method, url, headers=headers, follow_redirects=False)
    return await http.request(method, url, json=body if body is not None else {}, headers=headers)


@pytest.fixture
async def world(http: httpx.AsyncClient) -> World:
    return await build_world(http)


async def test_only_the_owner_or_the_right_role_gets_data(app: Any, http: httpx.AsyncClient, world: World) -> None:
    routes = [(m, p) for m, p in id_routes(app) if public_reason(p) is None]
    problems: list[str] = []

    # 1. Everyone who may not: before any allowed call changes the world.
    for method, path in routes:
        who = allowed(method, path)
        assert who is not None
        url, body = url_for(path, world), body_for(method, path, world)
        for role in ROLES:
            if role in who:
                continue
            r = await call(http, method, url, body, world.headers[role])
            # A page answers whoever is not a signed-in customer with a redirect to the WeChat sign-in: no data.
            page_redirect = not path.startswith("/api/") and r.status_code in (302, 303)
            if r.status_code not in DENIED and not page_redirect:
                problems.append(f"{role:10} {method} {url} -> {r.status_code} {r.text[:160]}")

    # 2. The owner / right role reads its data; 3. then may act (deletes last), never refused by a guard.
    unsafe = sorted(((m, p) for m, p in routes if m != "GET"), key=lambda mp: (mp[0] == "DELETE", mp[1]))
    for phase in ([(m, p) for m, p in routes if m == "GET"], unsafe):
        for method, path in phase:
            who = allowed(method, path)
            assert who is not None
            url, body = url_for(path, world), body_for(method, path, world)
            for role in sorted(who):
                r = await call(http, method, url, body, world.headers[role])
                ok = r.status_code < 300 if method == "GET" else r.status_code < 500 and r.status_code not in (401, 403)
                if not ok:
                    problems.append(f"{role:10} {method} {url} (allowed) -> {r.status_code} {r.text[:160]}")

    assert not problems, "access matrix violations:\n" + "\n".join(problems)


def test_a_new_unguarded_id_route_is_caught() -> None:
    """The generator sees routes it was never told about (here: a made-up, unguarded one)."""
    from litestar import Litestar, get

    @get("/api/widgets/{widget_id:int}")
    async def widget(widget_id: int) -> dict[str, int]:
        return {"id": widget_id}

    routes = [(m, p) for m, p in id_routes(Litestar([widget])) if public_reason(p) is None]
    assert routes == [("GET", "/api/widgets/{widget_id:int}")]
    assert [allowed(m, p) for m, p in routes] == [None]  # unclassified: the classification test fails
