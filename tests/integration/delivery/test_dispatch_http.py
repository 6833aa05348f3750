"""The HTTP surface: staff act only for their stores; every bad input is a 4xx with a clear message and no state change."""

from __future__ import annotations

from typing import Any

import httpx

from core import clock
from core.auth import issue_token
from tests.integration.delivery.city import (
    City,
    build_city,
    dispatch_row,
    handoff_code,
    offers,
    order_status,
    paid_urgent_order,
    public_id,
    rows,
)


async def snapshot(order_id: int) -> tuple[Any, ...]:
    d = await dispatch_row(order_id)
    offer_rows = await rows(
        "SELECT id, status, answered_at, decline_reason FROM dispatch_offers WHERE order_id = :o ORDER BY id",
        o=order_id,
    )
    return (
        d.status,
        d.accepted_store_id,
        d.preparing_at,
        d.out_for_delivery_at,
        d.delivered_at,
        tuple(tuple(r) for r in offer_rows),
        await order_status(order_id),
        await rows("SELECT store_id, reserved FROM stock_levels WHERE reserved > 0 ORDER BY store_id"),
    )


async def refused(
    client: httpx.AsyncClient, order_id: int, method: str, url: str, status: int, words: str, **kw: Any
) -> dict[str, Any]:
    before = await snapshot(order_id)
    r = await client.request(method, url, **kw)
    assert r.status_code == status, r.text
    body = r.json()
    assert words in body["detail"], body
    assert set(body) == {"status_code", "detail", "extra"}
    assert await snapshot(order_id) == before, "a refused request changed something"
    return body


def staff(city: City, i: int) -> dict[str, str]:
    return city.staff[city.stores[i]][1]


async def test_claims_declines_stages_and_handoff_over_http(client: httpx.AsyncClient) -> None:
    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city)
    pid = await public_id(order_id)
    ring1 = await offers(order_id)

    # The console: each store sees its own offer only.
    mine = (await client.get("/api/staff/offers", headers=staff(city, 0))).json()
    assert [(o["offer_id"], o["number"], o["seconds_to_deadline"]) for o in mine] == [
        (ring1[0].id, mine[0]["number"], 180)
    ]
    assert mine[0]["lines"][0]["title"] == "布洛芬缓释胶囊" and mine[0]["minutes_to_promise"] == 60
    assert (await client.get("/api/staff/offers", headers=staff(city, 5))).json() == []
    r = await client.post(f"/api/staff/offers/{ring1[0].id}/seen", headers=staff(city, 0))
    assert r.json() == {"first_time": True}

    # A store that was not offered: neither through another store's offer nor by order.
    await refused(
        client,
        order_id,
        "POST",
        f"/api/staff/offers/{ring1[0].id}/claim",
        403,
        "do not work at store",
        headers=staff(city, 5),
    )
    await refused(
        client,
        order_id,
        "POST",
        f"/api/staff/dispatches/{pid}/claim",
        403,
        "was not offered",
        json={"store_id": city.stores[5]},
        headers=staff(city, 5),
    )
    # A decline without a reason; a stage before any claim; unknown offers; customers and anonymous callers.
    await refused(
        client,
        order_id,
        "POST",
        f"/api/staff/offers/{ring1[1].id}/decline",
        400,
        "say why",
        json={},
        headers=staff(city, 1),
    )
    await refused(
        client,
        order_id,
        "POST",
        f"/api/staff/offers/{ring1[1].id}/decline",
        400,
        "say why",
        json={"reason": "  "},
        headers=staff(city, 1),
    )
    await refused(
        client,
        order_id,
        "POST",
        f"/api/staff/dispatches/{pid}/stage",
        409,
        "not claimed",
        json={"stage": "preparing"},
        headers=city.admin[1],
    )
    await refused(
        client, order_id, "POST", "/api/staff/offers/999999/claim", 404, "does not exist", headers=staff(city, 0)
    )
    customer = {"Authorization": f"Bearer {issue_token('customer', city.customer_id, 'customer')}"}
    await refused(
        client, order_id, "POST", f"/api/staff/offers/{ring1[0].id}/claim", 403, "role staff", headers=customer
    )
    await refused(client, order_id, "POST", f"/api/staff/offers/{ring1[0].id}/claim", 401, "sign in", headers={})

    # Store 1 declines with a reason; store 2 claims by order; store 0 is then too late.
    r = await client.post(
        f"/api/staff/offers/{ring1[1].id}/decline", json={"reason": "店里只有一个人"}, headers=staff(city, 1)
    )
    assert r.status_code == 200 and r.json()["next_step"] == "waiting"
    r = await client.post(
        f"/api/staff/dispatches/{pid}/claim", json={"store_id": city.stores[2]}, headers=staff(city, 2)
    )
    assert r.status_code == 200, r.text
    await refused(
        client,
        order_id,
        "POST",
        f"/api/staff/offers/{ring1[0].id}/claim",
        409,
        "already taken by another store",
        headers=staff(city, 0),
    )
    await refused(
        client,
        order_id,
        "POST",
        f"/api/staff/offers/{ring1[2].id}/claim",
        409,
        "already claimed",
        headers=staff(city, 2),
    )
    await refused(
        client, order_id, "POST", f"/api/staff/offers/{ring1[1].id}/claim", 409, "already taken", headers=staff(city, 1)
    )
    await refused(
        client,
        order_id,
        "POST",
        f"/api/staff/offers/{ring1[0].id}/decline",
        409,
        "already taken",
        json={"reason": "late"},
        headers=staff(city, 0),
    )

    # Stages: only the claiming store, in order.
    base = f"/api/staff/dispatches/{pid}"
    await refused(
        client,
        order_id,
        "POST",
        f"{base}/stage",
        403,
        "do not work at store",
        json={"stage": "preparing"},
        headers=staff(city, 0),
    )
    await refused(
        client,
        order_id,
        "POST",
        f"{base}/stage",
        409,
        "cannot go from accepted to out_for_delivery",
        json={"stage": "out_for_delivery"},
        headers=staff(city, 2),
    )
    await refused(
        client,
        order_id,
        "POST",
        f"{base}/stage",
        400,
        "stage must be one of",
        json={"stage": "delivered"},
        headers=staff(city, 2),
    )
    await refused(
        client,
        order_id,
        "POST",
        f"{base}/deliver",
        409,
        "mark it out for delivery",
        json={"handoff_code": "1234"},
        headers=staff(city, 2),
    )
    r = await client.post(f"{base}/stage", json={"stage": "preparing"}, headers=staff(city, 2))
    assert r.status_code == 200 and r.json()["order_status"] == "preparing"
    await refused(
        client,
        order_id,
        "POST",
        f"{base}/stage",
        409,
        "cannot go from preparing to preparing",
        json={"stage": "preparing"},
        headers=staff(city, 2),
    )
    courier_id = city.staff[city.stores[2]][0]
    await refused(
        client,
        order_id,
        "POST",
        f"{base}/courier",
        400,
        "not active staff",
        json={"user_id": city.staff[city.stores[0]][0]},
        headers=staff(city, 2),
    )
    r = await client.post(f"{base}/courier", json={"user_id": courier_id}, headers=staff(city, 2))
    assert r.status_code == 200 and r.json()["courier_user_id"] == courier_id
    r = await client.post(f"{base}/stage", json={"stage": "out_for_delivery"}, headers=staff(city, 2))
    assert r.status_code == 200 and r.json()["stages"]["out_for_delivery_at"] is not None

    # The customer sees the stage and their code; another customer sees nothing.
    view = (await client.get(f"/api/orders/{pid}/dispatch", headers=customer)).json()
    code = await handoff_code(order_id)
    assert view["stage"] == "out_for_delivery" and view["handoff_code"] == code and view["store_name"]
    other = {"Authorization": f"Bearer {issue_token('customer', city.customer_id + 100, 'customer')}"}
    assert (await client.get(f"/api/orders/{pid}/dispatch", headers=other)).status_code == 404
    assert (await client.get(f"/api/orders/{pid}/dispatch", headers=staff(city, 2))).status_code == 403

    # Wrong codes: 422 and logged, five of them pause the handoff (429); then the right code is refused too.
    wrong = "0000" if code != "0000" else "1111"
    await refused(
        client,
        order_id,
        "POST",
        f"{base}/deliver",
        400,
        "digits",
        json={"handoff_code": "abcd"},
        headers=staff(city, 2),
    )
    for left in (4, 3, 2, 1, 0):
        r = await client.post(f"{base}/deliver", json={"handoff_code": wrong}, headers=staff(city, 2))
        assert r.status_code == 422 and r.json()["extra"]["attempts_left"] == left, r.text
    assert await order_status(order_id) == "out_for_delivery"
    await refused(
        client,
        order_id,
        "POST",
        f"{base}/deliver",
        429,
        "too many wrong handoff codes",
        json={"handoff_code": code},
        headers=staff(city, 2),
    )
    failures = await rows(
        "SELECT actor, data FROM dispatch_events WHERE order_id = :o AND kind = 'handoff_failed'", o=order_id
    )
    assert [f.data["attempt"] for f in failures] == [1, 2, 3, 4, 5]
    clock.advance(15 * 60 + 1)  # the window passes
    r = await client.post(
        f"{base}/deliver",
        json={"handoff_code": code, "proof_photo_url": "https://img.example.com/p/1.jpg"},
        headers=staff(city, 2),
    )
    assert r.status_code == 200, r.text
    assert r.json()["dispatch_status"] == "delivered" and r.json()["proof_photo_url"].endswith("1.jpg")
    # Replaying the right code after delivery changes nothing.
    await refused(
        client,
        order_id,
        "POST",
        f"{base}/deliver",
        409,
        "already delivered",
        json={"handoff_code": code},
        headers=staff(city, 2),
    )
    view = (await client.get(f"/api/orders/{pid}/dispatch", headers=customer)).json()
    assert view["stage"] == "delivered" and view["handoff_code"] is None

    # The timeline: staff of the stores involved and admins; not other stores.
    t = await client.get(f"{base}/timeline", headers=staff(city, 0))
    assert t.status_code == 200 and t.json()["entries"][0]["kind"] == "created"
    assert (await client.get(f"{base}/timeline", headers=city.admin[1])).status_code == 200
    assert (await client.get(f"{base}/timeline", headers=staff(city, 6))).status_code == 404


async def test_claim_after_the_deadline_and_the_busy_toggle(client: httpx.AsyncClient) -> None:
    clock.freeze()
    city = await build_city()
    order_id = await paid_urgent_order(city)
    ring1 = await offers(order_id)
    clock.advance(181)  # past the deadline, before the timer ran
    await refused(
        client, order_id, "POST", f"/api/staff/offers/{ring1[0].id}/claim", 409, "expired", headers=staff(city, 0)
    )
    await refused(
        client,
        order_id,
        "POST",
        f"/api/staff/offers/{ring1[0].id}/decline",
        409,
        "expired",
        json={"reason": "忙"},
        headers=staff(city, 0),
    )

    store = city.stores[3]
    url = f"/api/staff/stores/{store}/urgent-busy"
    assert (await client.get(url, headers=staff(city, 3))).json()["busy"] is False
    r = await client.post(url, json={"busy": True, "minutes": 20, "reason": "午饭"}, headers=staff(city, 3))
    assert r.status_code == 200 and r.json()["busy"] is True
    assert (await client.post(url, json={"busy": True, "minutes": 0}, headers=staff(city, 3))).status_code == 400
    assert (await client.post(url, json={"busy": True}, headers=staff(city, 0))).status_code == 403
    from core.jobs import run_due_jobs

    await run_due_jobs()  # ring 1 expired: ring 2 skips the busy store
    ring2 = [o.store_id for o in await offers(order_id) if o.ring == 2]
    assert store not in ring2 and ring2 == city.stores[4:7]
    clock.advance(20 * 60)
    assert (await client.get(url, headers=staff(city, 3))).json()["busy"] is False  # the pause ended by itself
