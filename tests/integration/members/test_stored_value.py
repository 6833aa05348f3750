"""Stored value end to end: top-up through the sandbox (credited once), spend alone and with WeChat Pay, cancel
gives it back, refunds split back in proportion, 50 concurrent spends never go below zero; the ledger balances."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest

from core.db import unit_of_work
from orders.checkout import CheckoutRequest, LineIn
from orders.place_order import place_order
from orders.services import cancel_order
from payments.request_refund import request_refund
from shop.members.errors import InsufficientStoredValue
from tests.integration.members.conftest import (
    Member,
    balances,
    cards_owed,
    statement_matches,
    sv_liability,
    top_up,
)
from tests.integration.payments.conftest import (
    add_fault,
    deliver,
    eventually,
    ledger_ok,
    order_status,
    rows,
    run_jobs,
    sandbox_notify_from,
    sandbox_pay,
    scalar,
    set_sandbox,
    start,
)

_keys = itertools.count(1)


async def place_sv(m: Member, qty: int, stored_value_fen: int) -> tuple[int, int]:
    req = CheckoutRequest(
        store_id=m.w.store_id,
        kind="pickup",
        lines=[LineIn(m.w.sku_id, qty, m.w.price_fen)],
        stored_value_fen=stored_value_fen,
    )
    async with unit_of_work() as s:
        placed = await place_order(s, m.w.customer_id, req, f"svkey-{next(_keys):08d}")
    return placed.order_id, placed.total_fen


async def money_consistent(card_id: int) -> None:
    await ledger_ok()
    assert await sv_liability() == await cards_owed()
    assert await statement_matches(card_id)


async def test_top_up_is_credited_once_with_its_bonus_even_when_the_notify_repeats(
    http: httpx.AsyncClient, member_world: Member
) -> None:
    topup_id = await top_up(http, member_world)
    assert await balances(member_world.card_id) == (20_000, 2_000, 0)
    out_trade_no = await scalar("SELECT out_trade_no FROM payment_intents WHERE payable_kind = 'topup'")
    body = await sandbox_notify_from(http, out_trade_no)
    answers = await asyncio.gather(*(deliver(body) for _ in range(5)))
    assert [a.status_code for a in answers] == [204] * 5
    assert await balances(member_world.card_id) == (20_000, 2_000, 0)
    assert await scalar("SELECT count(*) FROM member_card_entries WHERE kind = 'topup'") == 1
    entries = await rows(
        "SELECT e.account, e.debit_fen, e.credit_fen FROM ledger_entries e JOIN ledger_transactions t "
        "ON t.id = e.transaction_id WHERE t.kind = 'payment' ORDER BY e.id"
    )
    assert [(e.account, e.debit_fen, e.credit_fen) for e in entries] == [
        ("wechat_clearing", 20_000, 0),
        ("member_bonus_expense", 2_000, 0),
        ("customer_stored_value", 0, 22_000),
    ]
    assert await scalar("SELECT status FROM member_topups WHERE id = :id", id=topup_id) == "paid"
    await money_consistent(member_world.card_id)


async def test_order_paid_wholly_with_stored_value_then_partly_refunded_in_proportion(
    http: httpx.AsyncClient, member_world: Member
) -> None:
    await top_up(http, member_world)  # 20,000 principal + 2,000 bonus
    order_id, total = await place_sv(member_world, 11, 11_000)  # half the balance
    assert total == 11_000 and await order_status(order_id) == "paid"
    assert await balances(member_world.card_id) == (10_000, 1_000, 110)  # 10,000 : 1,000 taken; 1 point / yuan
    [hold] = await rows("SELECT * FROM member_holds WHERE kind = 'stored_value'")
    assert (hold.state, hold.principal_fen, hold.bonus_fen) == ("captured", 10_000, 1_000)
    assert await scalar("SELECT count(*) FROM ledger_transactions WHERE kind = 'stored_value_sale'") == 1
    await money_consistent(member_world.card_id)

    async with unit_of_work() as s:
        await request_refund(s, order_id, 5_500, "test", "t:half")
    assert await balances(member_world.card_id) == (15_000, 1_500, 55)  # back in the same 10:1, points halved
    async with unit_of_work() as s:
        await request_refund(s, order_id, 5_500, "test", "t:rest")
    assert await balances(member_world.card_id) == (20_000, 2_000, 0)
    await money_consistent(member_world.card_id)


async def test_stored_value_with_wechat_pay_then_cancelled_gives_everything_back(
    http: httpx.AsyncClient, member_world: Member
) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    await top_up(http, member_world)
    order_id, _total = await place_sv(member_world, 3, 1_100)  # 3,000 total: 1,100 stored value + 1,900 WeChat
    assert await order_status(order_id) == "created"
    assert await balances(member_world.card_id) == (19_000, 1_900, 0)
    assert await scalar("SELECT state FROM member_holds") == "held"
    intent = await start(order_id)
    assert intent.amount_fen == 1_900
    await sandbox_pay(http, intent.out_trade_no)

    async def paid() -> bool:
        return await order_status(order_id) == "paid"

    await eventually(paid, what="the WeChat part paid")
    assert await scalar("SELECT state FROM member_holds") == "captured"
    assert (await balances(member_world.card_id))[2] == 30  # points on the whole 30 yuan
    await money_consistent(member_world.card_id)

    async with unit_of_work() as s:
        await cancel_order(s, order_id, "test", "顾客不要了")
    await run_jobs()
    assert await balances(member_world.card_id) == (20_000, 2_000, 0)
    assert await scalar("SELECT wechat_fen FROM payment_refunds") == 1_900

    async def refunded() -> bool:
        return await scalar("SELECT status FROM payment_refunds") == "success"

    await eventually(refunded, what="the WeChat refund")
    await money_consistent(member_world.card_id)


async def test_unpaid_order_cancelled_releases_the_hold(http: httpx.AsyncClient, member_world: Member) -> None:
    await top_up(http, member_world)
    order_id, _ = await place_sv(member_world, 2, 700)
    assert await balances(member_world.card_id) == (20_000 - 637, 2_000 - 63, 0)
    async with unit_of_work() as s:
        await cancel_order(s, order_id, "test", "超时")
    assert await balances(member_world.card_id) == (20_000, 2_000, 0)
    assert await scalar("SELECT state FROM member_holds") == "released"
    await money_consistent(member_world.card_id)


async def test_more_than_the_balance_is_refused_in_chinese_and_nothing_is_written(
    http: httpx.AsyncClient, member_world: Member
) -> None:
    await top_up(http, member_world)
    with pytest.raises(InsufficientStoredValue) as refused:
        await place_sv(member_world, 30, 23_000)
    assert refused.value.status_code == 422 and "储值余额不足" in refused.value.detail
    assert await scalar("SELECT count(*) FROM orders") == 0
    assert await scalar("SELECT count(*) FROM member_holds") == 0
    assert await balances(member_world.card_id) == (20_000, 2_000, 0)


async def test_fifty_concurrent_spends_of_one_balance_never_go_below_zero(
    http: httpx.AsyncClient, member_world: Member
) -> None:
    await top_up(http, member_world)  # 22,000 fen: 22 orders of 1,000 fit

    async def spend() -> str:
        try:
            await place_sv(member_world, 1, 1_000)
            return "paid"
        except InsufficientStoredValue:
            return "refused"

    outcomes = await asyncio.gather(*(spend() for _ in range(50)))
    assert outcomes.count("paid") == 22 and outcomes.count("refused") == 28
    assert await balances(member_world.card_id) == (0, 0, 220)
    assert await scalar("SELECT count(*) FROM member_holds WHERE state = 'captured'") == 22
    assert await scalar("SELECT count(*) FROM orders WHERE status = 'paid'") == 22
    assert await scalar("SELECT min(principal_after_fen + bonus_after_fen) FROM member_card_entries") == 0
    await money_consistent(member_world.card_id)


@pytest.mark.parametrize("first", ["cancel", "notify"])
async def test_cancel_racing_the_wechat_notify_never_loses_stored_value(
    http: httpx.AsyncClient, member_world: Member, first: str
) -> None:
    await set_sandbox(http, refund_delay_seconds=0)
    await top_up(http, member_world)
    order_id, _ = await place_sv(member_world, 3, 1_100)
    intent = await start(order_id)
    await add_fault(http, "drop", out_trade_no=intent.out_trade_no)
    await sandbox_pay(http, intent.out_trade_no)
    body = await sandbox_notify_from(http, intent.out_trade_no)

    async def cancel() -> None:
        async with unit_of_work() as s:
            await cancel_order(s, order_id, "payments", "支付超时", unpaid_only=True)

    steps = [cancel(), deliver(body)] if first == "cancel" else [deliver(body), cancel()]
    await asyncio.gather(*steps)
    await run_jobs()
    status = await order_status(order_id)
    hold = await scalar("SELECT state FROM member_holds WHERE kind = 'stored_value'")
    if status == "cancelled":  # the late WeChat payment goes back in full; the stored value was released
        assert hold == "released" and await balances(member_world.card_id) == (20_000, 2_000, 0)

        async def refunded() -> bool:
            await run_jobs()
            return await scalar("SELECT status FROM payment_refunds") == "success"

        await eventually(refunded, what="the late payment's refund")
    else:
        assert status == "paid" and hold == "captured"
        assert await balances(member_world.card_id) == (19_000, 1_900, 30)
    await money_consistent(member_world.card_id)
