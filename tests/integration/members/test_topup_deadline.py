"""A top-up not paid by its deadline is cancelled (WeChat asked first); one paid just before is credited once."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core import clock
from core.db import unit_of_work
from shop.members.topups import PAY_WITHIN, create_topup
from tests.integration.members.conftest import Member, balances, start_payment_topup
from tests.integration.payments.conftest import add_fault, ledger_ok, run_jobs, sandbox_pay, scalar


async def test_unpaid_top_up_is_cancelled_at_its_deadline(http: httpx.AsyncClient, member_world: Member) -> None:
    async with unit_of_work() as s:
        topup_id = (await create_topup(s, member_world.w.customer_id, pay_fen=5_000)).id
    await start_payment_topup(topup_id)
    clock.advance(PAY_WITHIN + timedelta(seconds=5))
    await run_jobs()
    assert await scalar("SELECT status FROM member_topups WHERE id = :id", id=topup_id) == "cancelled"
    assert await balances(member_world.card_id) == (0, 0, 0)
    assert await scalar("SELECT status FROM payment_intents") == "closed"
    await ledger_ok()


async def test_top_up_paid_but_notify_lost_is_credited_at_the_deadline(
    http: httpx.AsyncClient, member_world: Member
) -> None:
    async with unit_of_work() as s:
        topup_id = (await create_topup(s, member_world.w.customer_id, pay_fen=5_000)).id
    out_trade_no = await start_payment_topup(topup_id)
    await add_fault(http, "drop", out_trade_no=out_trade_no)  # the notify never comes
    await sandbox_pay(http, out_trade_no)
    clock.advance(PAY_WITHIN + timedelta(seconds=5))
    await run_jobs()
    assert await scalar("SELECT status FROM member_topups WHERE id = :id", id=topup_id) == "paid"
    assert await balances(member_world.card_id) == (5_000, 0, 0)
    await ledger_ok()
