"""Payments test helpers: orders to pay, the sandbox as the paying customer, signed notifies, ledger checks."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core import clock
from core.db import unit_of_work
from core.settings import get_settings
from orders.checkout import CheckoutRequest, LineIn
from orders.place_order import place_order
from payments.handle_notification import NotifyAnswer, handle_notification
from payments.ledger import check_ledger
from payments.start_payment import PaymentStart, start_payment
from tests.integration.orders.factories import World, world
from wechat.pay_crypto import encrypt_resource, sign_response
from wechat.sandbox.keys import sandbox_keys

_keys = itertools.count(1)


@dataclass
class Paying:
    w: World
    order_id: int
    public_id: str
    number: str
    total_fen: int


async def place(w: World, qty: int = 1) -> Paying:
    req = CheckoutRequest(store_id=w.store_id, kind="pickup", lines=[LineIn(w.sku_id, qty, w.price_fen)])
    async with unit_of_work() as s:
        placed = await place_order(s, w.customer_id, req, f"paykey-{next(_keys):08d}")
    return Paying(w, placed.order_id, placed.public_id, placed.number, placed.total_fen)


@pytest.fixture
async def shop_world(clean: None) -> World:
    return await world(price_fen=1234, stock=1000)


async def start(order_id: int, channel: str = "JSAPI") -> PaymentStart:
    async with unit_of_work() as s:
        return await start_payment(s, order_id, channel)


async def sandbox_pay(http: httpx.AsyncClient, out_trade_no: str, outcome: str = "SUCCESS") -> dict[str, Any]:
    r = await http.post("/sandbox/api/pay/pay", json={"out_trade_no": out_trade_no, "outcome": outcome})
    assert r.status_code == 200, r.text
    return r.json()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def scalar(sql: str, **params: Any) -> Any:
    async with unit_of_work() as s:
        return await s.scalar(text(sql), params)


async def rows(sql: str, **params: Any) -> list[Any]:
    async with unit_of_work() as s:
        return list((await s.execute(text(sql), params)).all())


async def intent_status(out_trade_no: str) -> str:
    return str(await scalar("SELECT status FROM payment_intents WHERE out_trade_no = :o", o=out_trade_no))


async def order_status(order_id: int) -> str:
    return str(await scalar("SELECT status FROM orders WHERE id = :id", id=order_id))


async def ledger_ok() -> None:
    async with unit_of_work() as s:
        report = await check_ledger(s)
    assert report.ok, report.as_dict()


async def ledger_count() -> int:
    return int(await scalar("SELECT count(*) FROM ledger_entries"))


async def set_sandbox(http: httpx.AsyncClient, **config: Any) -> None:
    r = await http.post("/sandbox/api/pay/config", json=config)
    assert r.status_code == 200, r.text


# --- notifies as WeChat signs them (the tests hold the sandbox's platform key) ---------------------


def transaction_resource(out_trade_no: str, total_fen: int, transaction_id: str, **over: Any) -> dict[str, Any]:
    s = get_settings()
    resource = {
        "appid": s.wechat_appid,
        "mchid": s.wechatpay_mchid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id,
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "attach": "",
        "success_time": clock.now_shanghai().isoformat(timespec="seconds"),
        "payer": {"openid": "o-test"},
        "amount": {"total": total_fen, "payer_total": total_fen, "currency": "CNY", "payer_currency": "CNY"},
    }
    resource.update(over)
    return resource


def notify_body(
    resource: dict[str, Any],
    *,
    event_type: str = "TRANSACTION.SUCCESS",
    apiv3_key: str | None = None,
    notify_id: str = "EV-2018-0001",
) -> bytes:
    original = "transaction" if event_type.startswith("TRANSACTION") else "refund"
    envelope = {
        "id": notify_id,
        "create_time": clock.now_shanghai().isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": encrypt_resource(
            json.dumps(resource, ensure_ascii=False),
            apiv3_key or get_settings().wechatpay_apiv3_key,
            associated_data=original,
            original_type=original,
        ),
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def signed(body: bytes, **kw: Any) -> dict[str, str]:
    keys = sandbox_keys()
    return sign_response(
        body,
        private_key=kw.pop("private_key", keys.platform_private),
        serial=kw.pop("serial", keys.platform_serial),
        **kw,
    )


async def deliver(body: bytes, headers: dict[str, str] | None = None) -> NotifyAnswer:
    return await handle_notification(headers if headers is not None else signed(body), body)


async def run_jobs(rounds: int = 5) -> int:
    """Run due jobs until none is left (or `rounds` passes)."""
    from core.jobs import run_due_jobs

    total = 0
    for _ in range(rounds):
        n = await run_due_jobs()
        total += n
        if not n:
            break
    return total


async def refunds_of(order_id: int) -> list[Any]:
    return await rows("SELECT * FROM payment_refunds WHERE payable_id = :id ORDER BY id", id=order_id)


async def sandbox_notify_from(http: httpx.AsyncClient, out_trade_no: str) -> bytes:
    """The notify WeChat would send for a payment the sandbox recorded (for tests that deliver it themselves)."""
    r = await http.get(f"/sandbox/api/pay/orders/{out_trade_no}")
    assert r.status_code == 200, r.text
    o = r.json()
    return notify_body(
        transaction_resource(o["out_trade_no"], o["total_fen"], o["transaction_id"], success_time=o["success_time"]),
        notify_id=f"EV-{o['transaction_id']}",
    )


async def add_fault(http: httpx.AsyncClient, kind: str, **spec: Any) -> None:
    r = await http.post("/sandbox/api/pay/faults", json={"kind": kind, **spec})
    assert r.status_code == 201, r.text
