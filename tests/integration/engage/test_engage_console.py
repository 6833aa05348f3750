"""The consoles' side: the agent inbox within 48 h, QR codes for staff and referrers, MP_verify files."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core import clock
from tests.integration.engage.conftest import (
    act,
    chat,
    customer_of,
    execute,
    follower,
    new_user,
    run_jobs,
    scalar,
    store,
    user_headers,
)


async def test_unanswered_messages_reach_the_inbox_and_staff_answer_as_customer_service(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient
) -> None:
    _, staff = await user_headers("staff")
    openid = await follower(api, "王姐")
    clock.advance(1)
    d = await act(api, openid, "text", content="你们的口罩有儿童款吗？")
    assert "客服" in d["reply"]["content"]  # the fallback, never an error

    inbox = (await app_http.get("/api/engage/inbox", headers=staff)).json()
    customer = await customer_of(openid)  # no nickname yet: WeChat gives it only at an OAuth userinfo sign-in
    assert [(m["customer_id"], m["content"], m["window_open"]) for m in inbox] == [
        (customer.id, "你们的口罩有儿童款吗？", True)
    ]
    r = await app_http.post(
        f"/api/engage/inbox/{inbox[0]['message_id']}/reply", json={"content": "有的，人民广场店有货。"}, headers=staff
    )
    assert r.status_code == 202, r.text
    await run_jobs()

    assert [m["summary"] for m in await chat(api, openid, kind="custom")] == ["有的，人民广场店有货。"]
    assert (await app_http.get("/api/engage/inbox", headers=staff)).json() == []
    handled = (await app_http.get("/api/engage/inbox", params={"status": "handled"}, headers=staff)).json()
    assert len(handled) == 1 and handled[0]["handled_at"]


async def test_after_48_hours_the_inbox_refuses_a_customer_service_reply(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient
) -> None:
    _, staff = await user_headers("staff")
    openid = await follower(api)
    clock.advance(1)
    await act(api, openid, "text", content="？？？")
    customer = await customer_of(openid)
    await execute(
        "UPDATE engage_followers SET last_interaction_at = :t WHERE customer_id = :c",
        t=clock.now() - timedelta(hours=49),
        c=customer.id,
    )
    [item] = (await app_http.get("/api/engage/inbox", headers=staff)).json()
    assert item["window_open"] is False
    r = await app_http.post(f"/api/engage/inbox/{item['message_id']}/reply", json={"content": "您好"}, headers=staff)
    assert r.status_code == 409 and "48" in r.json()["detail"]
    assert await scalar("SELECT count(*) FROM engage_outbound") == 0
    r = await app_http.post(f"/api/engage/inbox/{item['message_id']}/close", headers=staff)
    assert r.status_code == 200
    assert (await app_http.get("/api/engage/inbox", headers=staff)).json() == []


async def test_qr_codes_for_stores_and_referrers(
    api: httpx.AsyncClient, app_http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    mine, other = await store(), await store()
    _, staff = await user_headers("staff")
    staff_id = int(staff["Authorization"].split()[1] and 0) or None
    from sqlalchemy import text

    from core.db import unit_of_work

    async with unit_of_work() as s:
        staff_id = await s.scalar(text("SELECT max(id) FROM users WHERE role = 'staff'"))
        await s.execute(text("INSERT INTO store_staff (store_id, user_id) VALUES (:s, :u)"), {"s": mine, "u": staff_id})

    r = await app_http.post("/api/engage/qrcodes", json={"kind": "store", "store_id": mine}, headers=staff)
    assert r.status_code == 200, r.text
    code = r.json()
    png = await app_http.get(code["png"], headers=staff)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert (
        await app_http.post("/api/engage/qrcodes", json={"kind": "store", "store_id": other}, headers=staff)
    ).status_code == 403
    other_code = (
        await app_http.post("/api/engage/qrcodes", json={"kind": "store", "store_id": other}, headers=admin)
    ).json()
    assert (await app_http.get(other_code["png"], headers=staff)).status_code == 403
    assert [q["store_id"] for q in (await app_http.get("/api/engage/qrcodes", headers=staff)).json()] == [mine]
    again = (await app_http.post("/api/engage/qrcodes", json={"kind": "store", "store_id": mine}, headers=admin)).json()
    assert again["id"] == code["id"]  # one code per store

    referrer_openid = await follower(api, "推荐人")
    referrer = await customer_of(referrer_openid)
    r = await app_http.post(
        "/api/engage/qrcodes", json={"kind": "referrer", "referrer_customer_id": referrer.id}, headers=staff
    )
    assert r.status_code == 403
    ref_code = (
        await app_http.post(
            "/api/engage/qrcodes", json={"kind": "referrer", "referrer_customer_id": referrer.id}, headers=admin
        )
    ).json()
    for name in ("朋友甲", "朋友乙"):
        openid = await new_user(api, name)
        d = await act(api, openid, "follow", scene=ref_code["scene"])
        assert d["status"] == "replied"
        assert (await customer_of(openid)).referrer_customer_id == referrer.id
    clock.advance(1)
    d = await act(api, referrer_openid, "scan", scene=ref_code["scene"])  # scanning your own code: no referral
    assert (await customer_of(referrer_openid)).referrer_customer_id is None
    counts = (await app_http.get("/api/engage/referrals", params={"by": "referrer"}, headers=admin)).json()
    assert counts == [{"key": referrer.id, "scans": 3, "subscribes": 2, "referrals": 2}]


async def test_mp_verify_files_are_served_at_the_root(app_http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    files = {"file": ("MP_verify_Ab12Cd34Ef56Gh78.txt", b"Ab12Cd34Ef56Gh78", "text/plain")}
    r = await app_http.post("/api/engage/verify-files", files=files, headers=admin)
    assert r.status_code == 201, r.text
    served = await app_http.get("/MP_verify_Ab12Cd34Ef56Gh78.txt")
    assert (served.status_code, served.text) == (200, "Ab12Cd34Ef56Gh78")
    assert served.headers["content-type"].startswith("text/plain")
    assert (await app_http.get("/MP_verify_Nope.txt")).status_code == 404
    assert (await app_http.get("/anything.txt")).status_code == 404
    for name, body in (("../etc/passwd", b"x"), ("MP_verify_x.html", b"x"), ("MP_verify_ok.txt", "中文".encode())):
        r = await app_http.post("/api/engage/verify-files", files={"file": (name, body, "text/plain")}, headers=admin)
        assert r.status_code == 400, name
    _, staff = await user_headers("staff")
    assert (await app_http.post("/api/engage/verify-files", files=files, headers=staff)).status_code == 403
