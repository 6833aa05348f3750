"""A small world with two tenants of every kind, for the access matrix and the fuzzer.

Two stores far apart (A sells, B is 30 km away so it is never offered A's urgent orders), each with its own
staff; two customers, each with an address and orders; a finance user and an admin. Customer A has a
pickup order that went all the way to a refund request, an unpaid order with a payment intent, and two
urgent orders (one claimed by store A, one with an open offer to store A). Customer B has a pickup order
at store B. Everything is made through the domains' own services (the sandbox plays WeChat).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text

from core import clock
from core.auth import issue_token
from core.db import unit_of_work
from orders.after_sales import request_refund
from orders.checkout import CheckoutRequest, LineIn
from orders.mark_paid import mark_paid
from orders.place_order import place_order
from orders.transition_order import transition
from payments.start_payment import start_payment
from tests.integration.delivery.city import build_city, offers, paid_urgent_order, public_id
from tests.integration.orders.factories import make_address, make_customer, staff_user

ROLES = ("anonymous", "customer_a", "customer_b", "staff_a", "staff_b", "finance", "admin")

_keys = itertools.count(1)


@dataclass
class World:
    store_a: int
    store_b: int
    sku: int
    product: int
    category: int
    customer_a: int
    customer_b: int
    address_a: int
    address_b: int
    order_a: str  # customer A's pickup order at store A (picked up, refund asked)
    unpaid_a: str  # customer A's unpaid order, with a payment intent
    out_trade_no_a: str
    urgent_claimed_a: str  # claimed by store A
    urgent_offered_a: str  # open offer to store A
    offer_a: int
    order_b: str  # customer B's pickup order at store B
    refund_a: str  # refund request on order_a
    staff_a_id: int
    staff_b_id: int
    finance_id: int
    admin_id: int
    rule_id: int
    message_id: int
    qr_a: int
    coupon_template: int
    level_id: int
    plan_id: int
    topup_a: int
    member_token_a: str
    coupon_code_a: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def ids(self) -> dict[str, Any]:
        """Path parameter values, by name, naming tenant A's resources."""
        return {
            "store_id": self.store_a,
            "sku_id": self.sku,
            "product_id": self.product,
            "category_id": self.category,
            "customer_id": self.customer_a,
            "address_id": self.address_a,
            "order_id": self.order_a,
            "out_trade_no": self.out_trade_no_a,
            "offer_id": self.offer_a,
            "refund_id": self.refund_a,
            "user_id": self.staff_a_id,
            "rule_id": self.rule_id,
            "message_id": self.message_id,
            "qr_id": self.qr_a,
            "template_id": self.coupon_template,
            "level_id": self.level_id,
            "plan_id": self.plan_id,
            "topup_id": self.topup_a,
            "token": self.member_token_a,
            "code": self.coupon_code_a,
            "on_date": "2026-10-01",
        }


async def _pickup(customer_id: int, store_id: int, sku_id: int) -> tuple[int, str]:
    req = CheckoutRequest(store_id=store_id, kind="pickup", lines=[LineIn(sku_id, 1)])
    async with unit_of_work() as s:
        placed = await place_order(s, customer_id, req, f"world-{next(_keys):06d}")
    return placed.order_id, placed.public_id


async def _pay(order_id: int) -> None:
    async with unit_of_work() as s:
        assert (await mark_paid(s, order_id, f"wx-{order_id}", clock.now())).outcome == "paid"


async def build_world(http: httpx.AsyncClient) -> World:
    """Needs the live app (payments and QR codes talk to the sandbox over HTTP)."""
    from core.jobs import run_due_jobs

    city = await build_city(distances=(300, 30000), stock=50)
    store_a, store_b = city.stores
    customer_a = city.customer_id
    async with unit_of_work() as s:
        account = int(await s.scalar(text("SELECT account_id FROM customers WHERE id = :c"), {"c": customer_a}))
        customer_b = await make_customer(s, account)
        await s.execute(
            text("UPDATE customers SET phone = '13812341234', nickname = '顾客甲' WHERE id = :c"), {"c": customer_a}
        )
        await s.execute(
            text("UPDATE customers SET phone = '13956785678', nickname = '顾客乙' WHERE id = :c"), {"c": customer_b}
        )
        address_a = await make_address(s, customer_a, 31.2304, 121.4737)
        address_b = await make_address(s, customer_b, 31.5, 121.4737)
        product, category = (
            await s.execute(
                text("SELECT p.id, p.category_id FROM skus k JOIN products p ON p.id = k.product_id WHERE k.id = :k"),
                {"k": city.sku_id},
            )
        ).one()

    # Customer A: a pickup order picked up, with a refund request on it.
    order_a_id, order_a = await _pickup(customer_a, store_a, city.sku_id)
    await _pay(order_a_id)
    await run_due_jobs()
    for to in ("preparing", "ready", "picked_up"):
        async with unit_of_work() as s:
            await transition(s, order_a_id, to, "test:world")
    async with unit_of_work() as s:
        refund = await request_refund(s, order_a_id, f"customer:{customer_a}", "药品包装破损")
        refund_a = str(refund.public_id)

    # Customer A: an unpaid order with a payment intent (the sandbox answers over HTTP).
    unpaid_id, unpaid_a = await _pickup(customer_a, store_a, city.sku_id)
    async with unit_of_work() as s:
        started = await start_payment(s, unpaid_id, "NATIVE")
    out_trade_no_a = started.out_trade_no

    # Customer A: two urgent orders; store A claims the first, the second's offer stays open.
    claimed_id = await paid_urgent_order(city)
    offer_rows = [o for o in await offers(claimed_id) if o.store_id == store_a]
    from delivery.claim_offer import claim_offer

    async with unit_of_work() as s:
        await claim_offer(s, offer_rows[0].id, actor="test:world")
    offered_id = await paid_urgent_order(city)
    offer_a = next(o.id for o in await offers(offered_id) if o.store_id == store_a)

    # Customer B: a pickup order at store B.
    order_b_id, order_b = await _pickup(customer_b, store_b, city.sku_id)
    await _pay(order_b_id)

    finance_id, _ = await staff_user(f"finance{store_a}", role="finance")
    assert city.admin is not None
    admin_id = city.admin[0]

    rule_id, message_id = await _engage_rows(customer_a)

    headers = {
        "anonymous": {},
        "customer_a": _bearer("customer", customer_a, "customer"),
        "customer_b": _bearer("customer", customer_b, "customer"),
        "staff_a": city.staff[store_a][1],
        "staff_b": city.staff[store_b][1],
        "finance": _bearer("user", finance_id, "finance"),
        "admin": city.admin[1],
    }
    r = await http.post("/api/engage/qrcodes", json={"kind": "store", "store_id": store_a}, headers=headers["staff_a"])
    assert r.status_code == 200, r.text
    qr_a = int(r.json()["id"])

    # Coupons and member cards: a template anyone may claim, a level, a top-up plan, customer A's top-up and QR code.
    r = await http.post(
        "/api/admin/coupons/templates",
        json={
            "title": "满50减5",
            "kind": "threshold",
            "threshold_fen": 5000,
            "off_fen": 500,
            "total_quota": 100,
            "valid_days": 7,
        },
        headers=headers["admin"],
    )
    assert r.status_code in (200, 201), r.text
    coupon_template = int(r.json()["id"])
    r = await http.post(
        "/api/admin/members/levels",
        json={"code": "gold_w", "name": "金卡", "min_growth_fen": 100000, "discount_pct": 5},
        headers=headers["admin"],
    )
    assert r.status_code in (200, 201), r.text
    level_id = int(r.json()["id"])
    r = await http.post(
        "/api/admin/members/topup-plans",
        json={"name": "充100送10", "pay_fen": 10000, "bonus_fen": 1000},
        headers=headers["admin"],
    )
    assert r.status_code in (200, 201), r.text
    plan_id = int(r.json()["id"])
    r = await http.post("/api/member/topups", json={"plan_id": plan_id}, headers=headers["customer_a"])
    assert r.status_code == 201, r.text
    topup_a = int(r.json()["topup"]["id"])
    from shop.coupons.claim_coupon import claim_coupon
    from shop.members.member_code import issue_code

    async with unit_of_work() as s:
        claimed = await claim_coupon(s, customer_a, coupon_template)
        coupon_code_a = str(
            await s.scalar(text("SELECT code FROM customer_coupons WHERE id = :i"), {"i": claimed.coupon_id})
        )

    async with unit_of_work() as s:
        member_token_a = (await issue_code(s, customer_a)).token

    return World(
        store_a=store_a,
        store_b=store_b,
        sku=city.sku_id,
        product=int(product),
        category=int(category),
        customer_a=customer_a,
        customer_b=customer_b,
        address_a=address_a,
        address_b=address_b,
        order_a=order_a,
        unpaid_a=unpaid_a,
        out_trade_no_a=out_trade_no_a,
        urgent_claimed_a=await public_id(claimed_id),
        urgent_offered_a=await public_id(offered_id),
        offer_a=offer_a,
        order_b=order_b,
        refund_a=refund_a,
        staff_a_id=city.staff[store_a][0],
        staff_b_id=city.staff[store_b][0],
        finance_id=finance_id,
        admin_id=admin_id,
        rule_id=rule_id,
        message_id=message_id,
        qr_a=qr_a,
        coupon_template=coupon_template,
        level_id=level_id,
        plan_id=plan_id,
        topup_a=topup_a,
        member_token_a=member_token_a,
        coupon_code_a=coupon_code_a,
        headers=headers,
        tokens={k: v["Authorization"].split(" ", 1)[1] for k, v in headers.items() if v},
    )


def _bearer(kind: str, subject: int, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(kind, subject, role)}"}


async def _engage_rows(customer_id: int) -> tuple[int, int]:
    """A keyword rule and a customer message no rule answered (what the agent inbox lists), on the default account."""
    from engage.accounts import resolve_account

    async with unit_of_work() as s:
        account = (await resolve_account(s)).id
        rule_id = await s.scalar(
            text(
                "INSERT INTO engage_keyword_rules (account_id, name, match_type, pattern, priority, reply_type, reply, "
                "active, hits, created_at, updated_at) VALUES (:a, '营业时间', 'exact', '营业时间', 1, 'text', "
                "CAST(:r AS jsonb), true, 0, now(), now()) RETURNING id"
            ),
            {"a": account, "r": '{"text": "8:00-22:00"}'},
        )
        message_id = await s.scalar(
            text(
                "INSERT INTO engage_messages (account_id, dedupe_key, customer_id, openid, msg_type, content, fields, "
                "received_at, status, needs_agent) VALUES (:a, 'world-1', :c, 'o-world', 'text', '你好，有人吗', "
                "CAST('{}' AS jsonb), now(), 'received', true) RETURNING id"
            ),
            {"a": account, "c": customer_id},
        )
    return int(rule_id), int(message_id)
