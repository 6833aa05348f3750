"""start_payment calls WeChat Pay between two transactions: no pooled connection waits on WeChat, and a
payable that changed meanwhile gets no intent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import unit_of_work
from core.errors import Conflict
from orders.cancel_order import cancel_order
from tests.integration.orders.factories import World
from tests.integration.orders.race import RunBefore
from tests.integration.payments.conftest import order_status, place, scalar, start

WECHAT_CALL = "wechat.pay_client.WeChatPayClient.create_jsapi_order"


async def _idle_in_transaction() -> int:
    async with unit_of_work() as s:
        return int(
            await s.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                )
            )
        )


async def test_no_connection_waits_in_a_transaction_while_wechat_answers(
    http: httpx.AsyncClient, shop_world: World
) -> None:  # http: the sandbox answers
    p = await place(shop_world)
    seen: list[int] = []

    async def look(*_: Any, **__: Any) -> None:
        seen.append(await _idle_in_transaction())

    with RunBefore(WECHAT_CALL, look):
        started = await start(p.order_id)
    assert seen == [0]  # the reads were committed: nothing of ours was open while WeChat was asked
    assert started.status == "pending" and started.jsapi_params is not None
    assert await scalar("SELECT count(*) FROM payment_intents WHERE payable_id = :id", id=p.order_id) == 1
    assert await scalar("SELECT count(*) FROM jobs WHERE kind = 'payments.check_intent'") == 1


async def test_an_order_cancelled_while_wechat_answers_gets_no_intent(
    http: httpx.AsyncClient, shop_world: World
) -> None:  # http: the sandbox answers
    p = await place(shop_world)

    async def cancel_meanwhile(*_: Any, **__: Any) -> None:
        async with unit_of_work() as s:
            await cancel_order(s, p.order_id, "customer", "changed my mind")

    with RunBefore(WECHAT_CALL, cancel_meanwhile), pytest.raises(Conflict, match="changed while the payment"):
        await start(p.order_id)
    assert await order_status(p.order_id) == "cancelled"
    assert await scalar("SELECT count(*) FROM payment_intents WHERE payable_id = :id", id=p.order_id) == 0
    assert await scalar("SELECT count(*) FROM jobs WHERE kind = 'payments.check_intent'") == 0
