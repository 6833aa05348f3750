"""Finance and admin consoles: sign-in forms for the wrong people, the day's figures and the mismatch queue."""

from __future__ import annotations

import httpx

from core import clock
from core.auth import COOKIE
from core.db import unit_of_work
from payments.models import ReconMismatch
from tests.integration.orders.factories import staff_user


async def test_finance_console_needs_finance_and_shows_the_mismatch_queue(client: httpx.AsyncClient) -> None:
    r = await client.get("/finance")
    assert r.status_code == 200 and 'id="login"' in r.text and "财务登录" in r.text

    _, staff = await staff_user("clerk2")
    client.cookies.set(COOKIE, staff["Authorization"].split()[1])
    r = await client.get("/finance")
    assert "当前账号不是财务" in r.text

    _, fin = await staff_user("money", role="finance")
    client.cookies.set(COOKIE, fin["Authorization"].split()[1])
    r = await client.get("/finance")
    assert r.status_code == 200 and 'id="login"' not in r.text
    assert "这段时间还没有交易" in r.text and "没有待处理的差异" in r.text
    assert "/api/finance/exports/summary?fmt=xlsx" in r.text

    today = clock.now_shanghai().date()
    async with unit_of_work() as s:
        s.add(
            ReconMismatch(
                bill_date=today,
                kind="amount_differs",
                key="ORD20261129X",
                status="open",
                bill_amount_fen=1250,
                local_amount_fen=1200,
                detail="金额差 0.50",
                first_run_id=1,
                last_run_id=1,
            )
        )
    r = await client.get("/finance")
    assert "ORD20261129X" in r.text and "金额不符" in r.text and "¥12.50" in r.text and "¥12.00" in r.text
    assert "没有待处理的差异" not in r.text


async def test_admin_landing_page_is_for_admins(client: httpx.AsyncClient) -> None:
    r = await client.get("/admin")
    assert 'id="login"' in r.text and "管理员登录" in r.text
    _, fin = await staff_user("money2", role="finance")
    client.cookies.set(COOKIE, fin["Authorization"].split()[1])
    assert "当前账号不是管理员" in (await client.get("/admin")).text
    _, admin = await staff_user("boss", role="admin")
    client.cookies.set(COOKIE, admin["Authorization"].split()[1])
    r = await client.get("/admin")
    assert 'id="login"' not in r.text and 'href="/finance"' in r.text and 'href="/staff"' in r.text
    # An admin passes every console's door.
    assert 'id="login"' not in (await client.get("/finance")).text
    assert 'id="login"' not in (await client.get("/staff")).text
