"""Sandbox Pay fault knobs over real HTTP: duplicate, delay, drop, reorder, tamper, wrong key, stale timestamp, …"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from core import clock
from tests.integration.wechat import test_pay_sandbox as story
from tests.integration.wechat.test_pay_sandbox import Receiver, client_for, place, sandbox_notifies, settled, user_pays
from wechat.pay import (
    SignatureError,
    SignTestProbe,
    StaleTimestamp,
    UnknownSerial,
    WeChatPayClient,
    WeChatPayUnavailable,
)

# The story module's fixtures, shared by name (pytest looks fixtures up in this module's namespace).
pay_server = story.pay_server
receiver_server = story.receiver_server
sandbox = story.sandbox
pay = story.pay
api = story.api
receiver = story.receiver


async def knob(api: httpx.AsyncClient, kind: str, **spec: Any) -> dict[str, Any]:
    r = await api.post("/api/pay/faults", json={"kind": kind, **spec})
    assert r.status_code == 201, r.text
    return r.json()


async def paid_order(pay: WeChatPayClient, api: httpx.AsyncClient, receiver: Receiver, **kw: Any) -> str:
    out_trade_no, prepay_id = await place(pay, receiver, **kw)
    await user_pays(api, pay, prepay_id)
    return out_trade_no


def entries(receiver: Receiver, notify_id: str) -> list[dict[str, Any]]:
    return [e for e in receiver.received if e["id"] == notify_id]


async def test_duplicate_sends_the_same_notify_again(pay, api, receiver):
    out_trade_no, prepay_id = await place(pay, receiver)
    await knob(api, "duplicate", out_trade_no=out_trade_no, params={"copies": 2})
    await user_pays(api, pay, prepay_id)
    await receiver.wait(lambda: len(receiver.accepted(out_trade_no)) == 3)
    [notify] = await sandbox_notifies(api, out_trade_no, settled)
    assert {n.id for n in receiver.accepted(out_trade_no)} == {notify["notify_id"]}
    assert [a["fault"] for a in notify["log"]] == [None, "duplicate", "duplicate"]
    assert notify["status"] == "delivered"


async def test_duplicate_concurrent_copies_race_each_other(pay, api, receiver):
    out_trade_no, prepay_id = await place(pay, receiver)
    await knob(api, "duplicate", out_trade_no=out_trade_no, params={"copies": 3, "concurrent": True})
    await user_pays(api, pay, prepay_id)
    await receiver.wait(lambda: len(receiver.accepted(out_trade_no)) == 4)
    [notify] = await sandbox_notifies(api, out_trade_no, settled)
    arrivals = sorted(e["at"] for e in entries(receiver, notify["notify_id"]))
    assert arrivals[-1] - arrivals[0] < 1.0  # sent at once, not one after another
    assert len(notify["log"]) == 4 and notify["attempts"] == 1


async def test_delay_holds_the_first_attempt_until_the_clock_moves(pay, api, receiver):
    out_trade_no, prepay_id = await place(pay, receiver)
    await knob(api, "delay", out_trade_no=out_trade_no, params={"seconds": 30})
    await user_pays(api, pay, prepay_id)
    await asyncio.sleep(0.6)
    assert not receiver.about(out_trade_no)
    [notify] = await sandbox_notifies(api, out_trade_no)
    assert notify["status"] == "pending" and notify["attempts"] == 0
    clock.advance(31)
    await receiver.wait(lambda: bool(receiver.accepted(out_trade_no)))


async def test_drop_loses_the_notify_so_only_a_query_tells(pay, api, receiver):
    out_trade_no, prepay_id = await place(pay, receiver)
    await knob(api, "drop", out_trade_no=out_trade_no)
    await user_pays(api, pay, prepay_id)
    [notify] = await sandbox_notifies(api, out_trade_no, settled)
    assert notify["status"] == "dropped" and [a["fault"] for a in notify["log"]] == ["drop"]
    await asyncio.sleep(0.3)
    assert not entries(receiver, notify["notify_id"])
    assert (await pay.query_order(out_trade_no)).trade_state == "SUCCESS"


async def test_drop_of_the_first_attempt_is_recovered_by_the_retry(pay, api, receiver):
    out_trade_no, prepay_id = await place(pay, receiver)
    await knob(api, "drop", out_trade_no=out_trade_no, params={"attempts": 1})
    await user_pays(api, pay, prepay_id)
    await receiver.wait(lambda: bool(receiver.accepted(out_trade_no)))
    [notify] = await sandbox_notifies(api, out_trade_no, settled)
    assert [(a["fault"], a["status_code"]) for a in notify["log"]] == [("drop", None), (None, 204)]
    assert len(entries(receiver, notify["notify_id"])) == 1


async def test_reorder_delivers_a_batch_newest_first(pay, api, receiver):
    await knob(api, "reorder", count=2, event_type="TRANSACTION.")
    first = await paid_order(pay, api, receiver)
    await asyncio.sleep(0.4)
    assert not receiver.about(first)  # held until the batch is complete
    second = await paid_order(pay, api, receiver)
    await receiver.wait(lambda: bool(receiver.accepted(first)) and bool(receiver.accepted(second)))
    order = [e["notify"].resource["out_trade_no"] for e in receiver.received if "notify" in e]
    assert order.index(second) < order.index(first)


async def test_reorder_batch_can_be_released_early(pay, api, receiver):
    await knob(api, "reorder", count=5)
    a = await paid_order(pay, api, receiver)
    b = await paid_order(pay, api, receiver)
    r = await api.post("/api/pay/notifies/release")
    assert r.json() == {"released": 2}
    await receiver.wait(lambda: bool(receiver.accepted(a)) and bool(receiver.accepted(b)))
    order = [e["notify"].resource["out_trade_no"] for e in receiver.received if "notify" in e]
    assert order.index(b) < order.index(a)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("tamper", SignatureError),
        ("wrong_key", SignatureError),
        ("stale_timestamp", StaleTimestamp),
        ("signtest", SignTestProbe),
        ("unknown_serial", UnknownSerial),
    ],
)
async def test_forged_notify_is_rejected_then_the_genuine_retry_accepted(pay, api, receiver, kind, error):
    out_trade_no, prepay_id = await place(pay, receiver, total_fen=4200)
    await knob(api, kind, out_trade_no=out_trade_no)
    await user_pays(api, pay, prepay_id)
    await receiver.wait(lambda: bool(receiver.accepted(out_trade_no)))
    [notify] = await sandbox_notifies(api, out_trade_no, settled)
    forged, genuine = entries(receiver, notify["notify_id"])
    assert type(forged["error"]) is error and forged["status"] == 401
    assert genuine["notify"].transaction().total_fen == 4200  # the forgery claimed 4201 when tampered
    assert [(a["fault"], a["status_code"]) for a in notify["log"]] == [(kind, 401), (None, 204)]
    if kind == "tamper":
        assert forged["body"] != genuine["body"]
    if kind == "stale_timestamp":
        assert int(forged["headers"]["wechatpay-timestamp"]) <= int(clock.now().timestamp()) - 600


@pytest.mark.parametrize(
    ("kind", "params", "error"),
    [
        ("tamper", {}, SignatureError),
        ("wrong_key", {}, SignatureError),
        ("stale_timestamp", {"seconds": 301}, StaleTimestamp),
        ("signtest", {}, SignTestProbe),
        ("unknown_serial", {}, UnknownSerial),
        ("error", {"status": 500}, WeChatPayUnavailable),
    ],
)
async def test_forged_api_answers_are_refused_by_the_client(pay, api, receiver, kind, params, error):
    out_trade_no, _ = await place(pay, receiver)
    await knob(api, kind, scope="response", out_trade_no=out_trade_no, params=params)
    with pytest.raises(error):
        await pay.query_order(out_trade_no)
    assert (await pay.query_order(out_trade_no)).trade_state == "NOTPAY"  # the knob was used up


async def test_slow_answer_becomes_a_timeout(sandbox, api, receiver):
    async with client_for(sandbox, timeout=httpx.Timeout(0.3)) as pay:
        out_trade_no, _ = await place(pay, receiver)
        await knob(api, "delay", scope="response", out_trade_no=out_trade_no, params={"seconds": 1})
        with pytest.raises(WeChatPayUnavailable) as info:
            await pay.query_order(out_trade_no)
        assert info.value.code == "TIMEOUT"


@pytest.mark.parametrize("status", ["ABNORMAL", "CLOSED"])
async def test_refund_outcome_knob(pay, api, receiver, status):
    out_trade_no = await paid_order(pay, api, receiver, total_fen=1000)
    await knob(api, "refund_outcome", scope="refund", out_trade_no=out_trade_no, params={"status": status})
    await pay.refund(out_trade_no=out_trade_no, out_refund_no="RA" + out_trade_no, refund_fen=1000, total_fen=1000)
    await receiver.wait(lambda: bool(receiver.accepted(out_trade_no, f"REFUND.{status}")))
    assert (await pay.query_refund("RA" + out_trade_no)).status == status
    if status == "CLOSED":  # a closed refund gives the amount back to refund again
        retry = await pay.refund(
            out_trade_no=out_trade_no, out_refund_no="RB" + out_trade_no, refund_fen=1000, total_fen=1000
        )
        assert retry.status == "PROCESSING"


async def test_fault_api_validates_lists_and_clears(api):
    r = await api.post("/api/pay/faults", json={"kind": "explode"})
    assert r.status_code == 400 and r.json()["code"] == "PARAM_ERROR"
    r = await api.post("/api/pay/faults", json={"kind": "duplicate", "scope": "response"})
    assert r.status_code == 400
    r = await api.post("/api/pay/faults", json={"kind": "reorder", "count": 1})
    assert r.status_code == 400
    await knob(api, "drop", count=3)
    [listed] = (await api.get("/api/pay/faults")).json()
    assert listed["kind"] == "drop" and listed["remaining"] == 3
    assert (await api.delete("/api/pay/faults")).json() == {"cleared": 1}
    assert (await api.get("/api/pay/faults")).json() == []
