"""The member page (card, QR picture of my own token only, plans, statement) and the checkout member partial."""

from __future__ import annotations

import httpx

from core.auth import COOKIE
from tests.integration.members.conftest import member, seed_levels
from tests.integration.orders.factories import customer_headers, world


async def test_member_page_and_qr_picture(client: httpx.AsyncClient) -> None:
    await seed_levels()
    m = await member(await world())
    other = await member(await world())
    me = customer_headers(m.w.customer_id)
    client.cookies.set(COOKIE, me["Authorization"].split()[1])
    page = await client.get("/member")
    assert page.status_code == 200, page.text
    assert "会员卡" in page.text and "普通" in page.text and "充 ¥200.00" in page.text and "会员码" in page.text
    token = (await client.post("/api/member/code", headers=me)).json()["token"]
    png = await client.get(f"/member/qr/{token}")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    theirs = (await client.post("/api/member/code", headers=customer_headers(other.w.customer_id))).json()["token"]
    assert (await client.get(f"/member/qr/{theirs}")).status_code == 404

    cart = await client.get(f"/cart?store={m.w.store_id}")
    assert cart.status_code == 200
    client.cookies.clear()
    assert (await client.get("/member", follow_redirects=False)).status_code == 302
