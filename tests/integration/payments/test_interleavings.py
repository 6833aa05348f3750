"""A Hypothesis stateful test: any interleaving of pay / notify (repeated, concurrent) / query / close / refund /
deadline / cancel never credits twice, never leaves money on a cancelled order unrefunded, keeps the ledger
balanced — checked after every step, against the real sandbox, database and services."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from core import clock
from core.db import unit_of_work
from core.errors import DomainError
from orders.services import customer_cancel
from payments.ledger import check_ledger
from payments.recover_payments import WeChatBusy, check_intent, close_intents
from payments.request_refund import request_refund
from payments.settle_deadline import settle_deadline
from tests.conftest import truncate_all
from tests.integration.orders.factories import world
from tests.integration.payments.conftest import (
    add_fault,
    deliver,
    place,
    rows,
    run_jobs,
    sandbox_notify_from,
    set_sandbox,
    start,
)

_refs = itertools.count(1)


async def _truncate() -> None:
    """Empty tables; TRUNCATE can deadlock with the sandbox's notify loop polling its tables: try again."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(5):
        try:
            await truncate_all()
            return
        except DBAPIError as exc:
            if "deadlock" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture(scope="session")
async def session_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def make_machine(loop: asyncio.AbstractEventLoop, base_url: str) -> type[RuleBasedStateMachine]:
    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return loop.run_until_complete(coro)

    class PaymentInterleavings(RuleBasedStateMachine):
        intents = Bundle("intents")

        @initialize()
        def fresh_world(self) -> None:
            clock.reset()
            run(_truncate())
            self.http = httpx.AsyncClient(base_url=base_url, timeout=20)
            self.w = run(world(price_fen=1234, stock=1000))
            run(set_sandbox(self.http, refund_delay_seconds=0))
            # The sandbox records payments and refunds but sends no notify: the rules deliver them, at any time.
            run(add_fault(self.http, "drop", count=1000))

        def teardown(self) -> None:
            import os

            if os.environ.get("HYP_DEBUG"):
                print(
                    run(rows("SELECT credit_outcome, status, count(*) FROM payment_intents GROUP BY 1, 2")),
                    run(rows("SELECT kind, status, count(*) FROM payment_refunds GROUP BY 1, 2")),
                    run(rows("SELECT status, count(*) FROM orders GROUP BY 1")),
                )
            run(self.http.aclose())

        async def _order_of(self, intent: str) -> int:
            return int((await rows("SELECT payable_id FROM payment_intents WHERE out_trade_no = :o", o=intent))[0][0])

        @rule(target=intents, qty=st.integers(1, 3), pay=st.booleans())
        def customer_orders(self, qty: int, pay: bool) -> str:
            async def go() -> str:
                p = await place(self.w, qty)
                started = await start(p.order_id)
                if pay:
                    await self.http.post("/sandbox/api/pay/pay", json={"out_trade_no": started.out_trade_no})
                return started.out_trade_no

            return run(go())

        @rule(target=intents, intent=intents, channel=st.sampled_from(["JSAPI", "NATIVE"]))
        def another_intent(self, intent: str, channel: str) -> str:
            async def go() -> str:
                try:
                    return (await start(await self._order_of(intent), channel)).out_trade_no
                except DomainError:  # paid or cancelled already: keep using the old one
                    return intent

            return run(go())

        @rule(intent=intents)
        def customer_pays_at_wechat(self, intent: str) -> None:
            run(self.http.post("/sandbox/api/pay/pay", json={"out_trade_no": intent}))  # 404/409 when it cannot

        @rule(intent=intents, copies=st.integers(1, 4))
        def wechat_notifies(self, intent: str, copies: int) -> None:
            async def go() -> None:
                got = (await self.http.get(f"/sandbox/api/pay/orders/{intent}")).json()
                if got.get("transaction_id"):
                    body = await sandbox_notify_from(self.http, intent)
                    answers = await asyncio.gather(*(deliver(body) for _ in range(copies)))
                    assert all(a.status_code == 204 for a in answers), answers

            run(go())

        @rule(intent=intents)
        def recovery_query(self, intent: str) -> None:
            async def go() -> None:
                [(intent_id, status)] = await rows(
                    "SELECT id, status FROM payment_intents WHERE out_trade_no = :o", o=intent
                )
                if status == "pending":
                    async with unit_of_work() as s:
                        await check_intent(s, {"intent_id": intent_id})

            run(go())

        @rule(intent=intents)
        def close_open_intents(self, intent: str) -> None:
            async def go() -> None:
                async with unit_of_work() as s:
                    await close_intents(s, {"kind": "order", "id": await self._order_of(intent)})

            run(go())

        @rule(intent=intents)
        def deadline(self, intent: str) -> None:
            async def go() -> None:
                try:
                    async with unit_of_work() as s:
                        await settle_deadline(s, {"kind": "order", "id": await self._order_of(intent)})
                except WeChatBusy:
                    pass

            run(go())

        @rule(intent=intents)
        def customer_cancels(self, intent: str) -> None:
            async def go() -> None:
                try:
                    async with unit_of_work() as s:
                        await customer_cancel(s, await self._order_of(intent), self.w.customer_id, "changed mind")
                except DomainError:
                    pass

            run(go())

        @rule(intent=intents, share=st.sampled_from([0.1, 0.5, 1.0, 1.5]))
        def refund(self, intent: str, share: float) -> None:
            async def go() -> None:
                order = await self._order_of(intent)
                paid = int((await rows("SELECT cash_due_fen FROM orders WHERE id = :o", o=order))[0][0])
                try:
                    async with unit_of_work() as s:
                        await request_refund(s, order, max(1, int(paid * share)), "test", f"hyp:{next(_refs)}")
                except DomainError:  # nothing paid, or more than is left
                    pass

            run(go())

        @rule()
        def worker_runs(self) -> None:
            run(run_jobs())

        @invariant()
        def money_is_right(self) -> None:
            async def check() -> None:
                async with unit_of_work() as s:
                    report = await check_ledger(s)
                assert report.ok, report.as_dict()
                credited = await rows(
                    "SELECT payable_id, count(*) AS n FROM payment_intents WHERE credit_outcome = 'credited' "
                    "GROUP BY payable_id HAVING count(*) > 1"
                )
                assert credited == [], f"double credit: {credited}"
                assert (
                    await rows(
                        "SELECT intent_id FROM payment_events WHERE to_status = 'paid' "
                        "GROUP BY intent_id HAVING count(*) > 1"
                    )
                    == []
                )
                assert await rows("SELECT id FROM orders WHERE paid_fen > cash_due_fen") == []
                # Money no order keeps is (being) given back: late and duplicate payments in full, and
                # everything paid for an order that ended cancelled.
                unrefunded = await rows(
                    """
                    SELECT i.out_trade_no, i.paid_fen, o.status, i.credit_outcome,
                           coalesce((SELECT sum(r.wechat_fen) FROM payment_refunds r WHERE r.intent_id = i.id
                                     AND r.status IN ('pending', 'processing', 'success')), 0) AS back
                    FROM payment_intents i JOIN orders o ON o.id = i.payable_id
                    WHERE i.status = 'paid' AND (o.status = 'cancelled' OR i.credit_outcome <> 'credited')
                    """
                )
                assert all(u.back == u.paid_fen for u in unrefunded), unrefunded
                assert (
                    await rows(
                        "SELECT id FROM orders WHERE status = 'cancelled' AND paid_fen > 0 AND NOT EXISTS "
                        "(SELECT 1 FROM payment_refunds r WHERE r.payable_id = orders.id)"
                    )
                    == []
                )

            run(check())

    return PaymentInterleavings


def test_interleavings_never_double_credit_and_keep_the_ledger_balanced(
    live_server: str, session_loop: asyncio.AbstractEventLoop
) -> None:
    machine = make_machine(session_loop, live_server)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=40,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
