"""WeChat Pay v3 over real HTTP against the sandbox: order → pay → notify → query → refund → bill, errors, interop."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, Request, Response, Router, post

from core import clock
from core.embedded import free_port
from core.ids import trade_no
from core.settings import get_settings
from wechat.pay import (
    OrderNotFound,
    OrderPaid,
    PayNotify,
    SignRejected,
    WeChatPayClient,
    WeChatPayError,
    parse_trade_bill,
)
from wechat.pay_crypto import PayCryptoError, build_authorization, generate_private_key
from wechat.sandbox.pay import pay_router
from wechat.sandbox.pay_loop import start_pay_sandbox, stop_pay_sandbox
from wechat.sandbox.pay_notify import RETRY_SCHEDULE_SECONDS

# --- servers -------------------------------------------------------------------------------------


async def serve(app: Litestar) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, loop="none", lifespan="on", log_config=None, access_log=False)
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def pay_server(database: str) -> AsyncIterator[str]:
    """The Pay sandbox mounted under /sandbox of an app of its own (as in the dev app)."""
    app = Litestar(
        route_handlers=[pay_router("/sandbox")], on_startup=[start_pay_sandbox], on_shutdown=[stop_pay_sandbox]
    )
    async for url in serve(app):
        yield url + "/sandbox"


@pytest.fixture(scope="session")
async def pay_root_server(database: str) -> AsyncIterator[str]:
    """The same router at the root of its own app, as `o2o sandbox` runs it."""
    app = Litestar(route_handlers=[pay_router()], on_startup=[start_pay_sandbox], on_shutdown=[stop_pay_sandbox])
    async for url in serve(app):
        yield url


@pytest.fixture(scope="session")
async def pay_nested_server(database: str) -> AsyncIterator[str]:
    """Nested inside another router (the way an app may assemble its sandbox routers)."""
    outer = Router(path="/outer", route_handlers=[pay_router("/sandbox")])
    app = Litestar(route_handlers=[outer], on_startup=[start_pay_sandbox], on_shutdown=[stop_pay_sandbox])
    async for url in serve(app):
        yield url + "/outer/sandbox"


class Receiver:
    """The merchant's notify endpoint: verifies and decrypts with our client, records everything."""

    def __init__(self) -> None:
        self.client: WeChatPayClient | None = None
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0
        self.changed = asyncio.Condition()
        self.url = ""

    async def handle(self, request: Request[Any, Any, Any]) -> Response[Any]:
        raw = await request.body()
        entry: dict[str, Any] = {"body": raw, "headers": dict(request.headers), "at": time.monotonic()}
        try:
            entry["id"] = json.loads(raw).get("id")
        except ValueError:
            entry["id"] = None
        if self.fail_next > 0:
            self.fail_next -= 1
            entry["status"] = 500
        else:
            assert self.client is not None
            try:
                entry["notify"] = self.client.parse_notify(request.headers, raw)
                entry["status"] = 204
            except PayCryptoError as exc:
                entry["error"] = exc
                entry["status"] = 401
        async with self.changed:
            self.received.append(entry)
            self.changed.notify_all()
        if entry["status"] == 204:
            return Response(None, status_code=204)
        return Response({"code": "FAIL", "message": "rejected"}, status_code=entry["status"])

    def about(self, out_trade_no: str) -> list[dict[str, Any]]:
        """Everything received for this order (by the verified/decrypted content, or by the sandbox's record)."""
        return [e for e in self.received if out_trade_no.encode() in json.dumps(_plain(e)).encode()]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 15) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), timeout)

    def accepted(self, out_trade_no: str, event_type: str | None = None) -> list[PayNotify]:
        out = [
            e["notify"]
            for e in self.received
            if "notify" in e and e["notify"].resource.get("out_trade_no") == out_trade_no
        ]
        return [n for n in out if event_type is None or n.event_type == event_type]


def _plain(entry: dict[str, Any]) -> Any:
    if "notify" in entry:
        return entry["notify"].resource
    return {"id": entry.get("id")}


@pytest.fixture(scope="session")
async def receiver_server(database: str) -> AsyncIterator[Receiver]:
    rec = Receiver()

    @post("/notify")
    async def notify(request: Request[Any, Any, Any]) -> Response[Any]:
        return await rec.handle(request)

    async for url in serve(Litestar(route_handlers=[notify])):
        rec.url = url + "/notify"
        yield rec


def _dev_app_mounts_sandbox() -> bool:
    return importlib.util.find_spec("wechat.sandbox.app") is not None


@pytest.fixture
async def sandbox(pay_server: str, clean: None) -> str:
    return pay_server


def client_for(base_url: str, **overrides: Any) -> WeChatPayClient:
    return WeChatPayClient.from_settings(get_settings(), base_url=base_url, **overrides)


@pytest.fixture
async def pay(sandbox: str) -> AsyncIterator[WeChatPayClient]:
    async with client_for(sandbox) as c:
        yield c


@pytest.fixture
async def api(sandbox: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox, timeout=30, trust_env=False) as c:
        r = await c.post("/api/pay/config", json={"retry_time_factor": 0.001, "refund_delay_seconds": 0})
        assert r.status_code == 200, r.text
        yield c


@pytest.fixture
async def receiver(receiver_server: Receiver, pay: WeChatPayClient) -> Receiver:
    receiver_server.client = pay
    receiver_server.fail_next = 0
    return receiver_server


async def place(pay: WeChatPayClient, receiver: Receiver, total_fen: int = 1990, **kw: Any) -> tuple[str, str]:
    out_trade_no = trade_no("T")
    prepay_id = await pay.create_jsapi_order(
        out_trade_no=out_trade_no,
        description=kw.pop("description", "鲜牛奶 2 瓶"),
        total_fen=total_fen,
        openid=kw.pop("openid", "oSandboxUser0000000000000001"),
        notify_url=receiver.url,
        **kw,
    )
    return out_trade_no, prepay_id


async def user_pays(api: httpx.AsyncClient, pay: WeChatPayClient, prepay_id: str, **extra: Any) -> dict[str, Any]:
    params = pay.jsapi_params(prepay_id)
    r = await api.post("/api/pay/jsapi", json={**params, "openid": "oSandboxUser0000000000000001", **extra})
    assert r.status_code == 200, r.text
    return r.json()


async def sandbox_notifies(
    api: httpx.AsyncClient, out_trade_no: str, until: Callable[[list[dict[str, Any]]], bool] = bool, timeout: float = 10
) -> list[dict[str, Any]]:
    """The sandbox's record of this order's notifies, once `until` holds (its bookkeeping follows the POST)."""
    deadline = time.monotonic() + timeout
    while True:
        r = await api.get("/api/pay/notifies", params={"out_trade_no": out_trade_no})
        assert r.status_code == 200, r.text
        notifies = r.json()
        if until(notifies) or time.monotonic() > deadline:
            return notifies
        await asyncio.sleep(0.05)


def settled(notifies: list[dict[str, Any]]) -> bool:
    return bool(notifies) and all(n["status"] in ("delivered", "failed", "dropped") for n in notifies)


# --- the whole story -----------------------------------------------------------------------------


async def run_story(pay: WeChatPayClient, api: httpx.AsyncClient, receiver: Receiver) -> None:
    s = get_settings()
    out_trade_no, prepay_id = await place(pay, receiver, total_fen=1990, attach="store=7")
    assert (await pay.query_order(out_trade_no)).trade_state == "NOTPAY"

    paid = await user_pays(api, pay, prepay_id)
    assert paid["trade_state"] == "SUCCESS"
    await receiver.wait(lambda: bool(receiver.accepted(out_trade_no, "TRANSACTION.SUCCESS")))
    notify = receiver.accepted(out_trade_no, "TRANSACTION.SUCCESS")[0]
    tx = notify.transaction()
    # what the payments domain must check against its order
    assert (tx.total_fen, tx.mchid, tx.appid, tx.out_trade_no) == (
        1990,
        s.wechatpay_mchid,
        s.wechat_appid,
        out_trade_no,
    )
    assert tx.trade_state == "SUCCESS" and tx.transaction_id and tx.attach == "store=7"
    assert notify.summary == "支付成功" and notify.original_type == "transaction"

    queried = await pay.query_order(out_trade_no)
    assert queried.trade_state == "SUCCESS" and queried.transaction_id == tx.transaction_id
    assert queried.payer_total_fen == 1990 and queried.success_time is not None

    refund = await pay.refund(
        out_trade_no=out_trade_no, out_refund_no="R" + out_trade_no, refund_fen=500, total_fen=1990
    )
    assert refund.status == "PROCESSING" and refund.refund_fen == 500
    await receiver.wait(lambda: bool(receiver.accepted(out_trade_no, "REFUND.SUCCESS")))
    refund_notify = receiver.accepted(out_trade_no, "REFUND.SUCCESS")[0].refund()
    assert (refund_notify.out_refund_no, refund_notify.refund_fen, refund_notify.status) == (
        "R" + out_trade_no,
        500,
        "SUCCESS",
    )
    assert (await pay.query_refund("R" + out_trade_no)).status == "SUCCESS"
    assert (await pay.query_order(out_trade_no)).trade_state == "REFUND"

    today = clock.now_shanghai().date()
    for gzip in (True, False):
        descriptor = await pay.trade_bill(today, gzip=gzip)
        raw = await pay.download_bill(descriptor)  # raises unless SHA1 matches the decompressed file
        assert hashlib.sha1(raw).hexdigest() == descriptor.hash_value
        bill = parse_trade_bill(raw)
        bill.check_summary()
        mine = [r for r in bill.rows if r.out_trade_no == out_trade_no]
        assert [(r.trade_state, r.total_fen, r.refund_fen) for r in mine] == [("SUCCESS", 1990, 0), ("REFUND", 0, 500)]
        assert mine[0].transaction_id == tx.transaction_id and mine[1].out_refund_no == "R" + out_trade_no
        assert bill.summary is not None and bill.summary.total_fen >= 1990 and bill.summary.refund_fen >= 500


async def test_jsapi_pay_notify_query_refund_bill(pay, api, receiver):
    await run_story(pay, api, receiver)


@pytest.mark.skipif(not _dev_app_mounts_sandbox(), reason="the dev app does not mount the sandbox yet")
async def test_the_story_on_the_dev_app(live_app: str, receiver_server: Receiver):
    base = get_settings().sandbox_base
    async with client_for(base) as pay, httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as api:
        r = await api.post("/api/pay/config", json={"retry_time_factor": 0.001, "refund_delay_seconds": 0})
        assert r.status_code == 200, r.text
        receiver_server.client = pay
        receiver_server.fail_next = 0
        await run_story(pay, api, receiver_server)


async def test_the_router_works_the_same_at_the_root_and_nested(
    pay_root_server, pay_nested_server, clean, receiver_server
):
    async with client_for(pay_nested_server) as pay:
        receiver_server.client = pay
        nested_no, _ = await place(pay, receiver_server)
        assert (await pay.query_order(nested_no)).trade_state == "NOTPAY"
        descriptor = await pay.trade_bill(clock.now_shanghai().date())
        assert descriptor.download_url.startswith(pay_nested_server + "/v3/billdownload/file?token=")
        await pay.download_bill(descriptor)
    async with client_for(pay_root_server) as pay:
        receiver_server.client = pay
        out_trade_no, _ = await place(pay, receiver_server)
        assert (await pay.query_order(out_trade_no)).trade_state == "NOTPAY"
    # a client that signs the path with a prefix the sandbox is not mounted under is refused
    async with client_for(pay_root_server + "/") as pay:
        assert (await pay.query_order(out_trade_no)).out_trade_no == out_trade_no
    async with httpx.AsyncClient(trust_env=False) as http:
        r = await http.get(f"{pay_root_server}/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=1")
        assert r.status_code == 401 and r.json()["code"] == "SIGN_ERROR"


async def test_native_order_close_and_paid_order_rules(pay, api, receiver):
    out_trade_no = trade_no("N")
    code_url = await pay.create_native_order(
        out_trade_no=out_trade_no, description="扫码购", total_fen=100, notify_url=receiver.url
    )
    assert code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    await pay.close_order(out_trade_no)
    await pay.close_order(out_trade_no)  # closing twice is fine
    assert (await pay.query_order(out_trade_no)).trade_state == "CLOSED"
    r = await api.post("/api/pay/pay", json={"code_url": code_url})
    assert r.status_code == 409 and r.json()["code"] == "ORDER_CLOSED"

    paid_no = trade_no("N")
    code_url = await pay.create_native_order(
        out_trade_no=paid_no, description="扫码购", total_fen=100, notify_url=receiver.url
    )
    r = await api.post("/api/pay/pay", json={"code_url": code_url, "openid": "oScanner"})
    assert r.status_code == 200 and r.json()["trade_state"] == "SUCCESS"
    with pytest.raises(OrderPaid):
        await pay.close_order(paid_no)
    with pytest.raises(OrderPaid):
        await pay.create_native_order(
            out_trade_no=paid_no, description="扫码购", total_fen=100, notify_url=receiver.url
        )


async def test_payerror_and_expired_orders(pay, api, receiver):
    out_trade_no, prepay_id = await place(pay, receiver)
    assert (await user_pays(api, pay, prepay_id, outcome="PAYERROR"))["trade_state"] == "PAYERROR"
    assert (await pay.query_order(out_trade_no)).trade_state == "PAYERROR"
    assert (await user_pays(api, pay, prepay_id))["trade_state"] == "SUCCESS"  # the user tries again

    late_no, late_prepay = await place(pay, receiver, time_expire=clock.now() + timedelta(minutes=15))
    clock.advance(timedelta(minutes=16))
    r = await api.post("/api/pay/jsapi", json=pay.jsapi_params(late_prepay))
    assert r.status_code == 409 and r.json()["code"] == "ORDER_EXPIRED"
    assert (await pay.query_order(late_no)).trade_state == "NOTPAY"


async def test_wechat_error_codes_become_typed_errors(pay, api, receiver, sandbox):
    out_trade_no, prepay_id = await place(pay, receiver, total_fen=300)
    assert (await place_again(pay, receiver, out_trade_no, 300)) == prepay_id  # same content: idempotent
    with pytest.raises(WeChatPayError) as dup:
        await place_again(pay, receiver, out_trade_no, 301)
    assert (dup.value.status_code, dup.value.code, dup.value.verified) == (400, "INVALID_REQUEST", True)
    with pytest.raises(OrderNotFound) as missing:
        await pay.query_order("NOSUCHORDER1")
    assert missing.value.status_code == 404 and missing.value.code == "ORDER_NOT_EXIST"
    with pytest.raises(WeChatPayError) as unpaid:
        await pay.refund(out_trade_no=out_trade_no, out_refund_no="R1" + out_trade_no, refund_fen=1, total_fen=300)
    assert unpaid.value.code == "INVALID_REQUEST"
    await user_pays(api, pay, prepay_id)
    with pytest.raises(WeChatPayError) as over:
        await pay.refund(out_trade_no=out_trade_no, out_refund_no="R2" + out_trade_no, refund_fen=301, total_fen=300)
    assert over.value.code == "INVALID_REQUEST"
    first = await pay.refund(
        out_trade_no=out_trade_no, out_refund_no="R3" + out_trade_no, refund_fen=200, total_fen=300
    )
    again = await pay.refund(
        out_trade_no=out_trade_no, out_refund_no="R3" + out_trade_no, refund_fen=200, total_fen=300
    )
    assert first.refund_id == again.refund_id  # idempotent by out_refund_no
    with pytest.raises(WeChatPayError):
        await pay.refund(out_trade_no=out_trade_no, out_refund_no="R4" + out_trade_no, refund_fen=101, total_fen=300)
    with pytest.raises(WeChatPayError) as bad_total:
        await pay.refund(out_trade_no=out_trade_no, out_refund_no="R5" + out_trade_no, refund_fen=1, total_fen=299)
    assert bad_total.value.code == "PARAM_ERROR"
    # a body that is not a JSON object is a PARAM_ERROR, answered signed
    with pytest.raises(WeChatPayError) as bad_json:
        await pay.request("POST", "/v3/pay/transactions/jsapi", json_body=[1, 2])
    assert (bad_json.value.status_code, bad_json.value.code, bad_json.value.verified) == (400, "PARAM_ERROR", True)


async def place_again(pay: WeChatPayClient, receiver: Receiver, out_trade_no: str, total: int) -> str:
    return await pay.create_jsapi_order(
        out_trade_no=out_trade_no,
        description="鲜牛奶 2 瓶",
        total_fen=total,
        openid="oSandboxUser0000000000000001",
        notify_url=receiver.url,
    )


async def test_bad_merchant_signatures_get_401_sign_error(sandbox, pay):
    s = get_settings()
    async with client_for(sandbox, merchant_private_key=generate_private_key()) as stranger:
        with pytest.raises(SignRejected) as info:
            await stranger.query_order("T0000000001")
    assert (info.value.status_code, info.value.code, info.value.verified) == (401, "SIGN_ERROR", True)
    async with client_for(sandbox, merchant_serial="0000UNKNOWNSERIAL") as unknown:
        with pytest.raises(SignRejected):
            await unknown.query_order("T0000000001")
    path = f"/v3/pay/transactions/out-trade-no/T0000000001?mchid={s.wechatpay_mchid}"
    key = pay._private_key
    # Frozen, so a slow request on a loaded machine cannot bring "301 s ahead" back inside the window.
    clock.freeze()
    async with httpx.AsyncClient(trust_env=False) as http:
        for signed, timestamp in (
            ("/sandbox" + path, None),  # the mount prefix is not part of what WeChat sees
            (path, int(clock.now().timestamp()) - 301),  # stale
            (path, int(clock.now().timestamp()) + 301),  # from the future
        ):
            auth = build_authorization(
                "GET",
                signed,
                b"",
                mchid=s.wechatpay_mchid,
                serial_no=s.wechatpay_merchant_serial,
                private_key=key,
                timestamp=timestamp,
            )
            r = await http.get(sandbox + path, headers={"Authorization": auth})
            assert r.status_code == 401 and r.json()["code"] == "SIGN_ERROR", (signed, timestamp, r.text)
            # even the refusal is signed by the platform, with all five headers
            pay.verifier.verify(r.headers, r.content)
            assert r.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
        r = await http.get(sandbox + path)
        assert r.status_code == 401 and r.json()["code"] == "SIGN_ERROR"
    clock.reset()


async def test_notify_retries_follow_wechats_schedule_compressed(pay, api, receiver):
    receiver.fail_next = 3
    out_trade_no, prepay_id = await place(pay, receiver)
    await user_pays(api, pay, prepay_id)
    await receiver.wait(lambda: bool(receiver.accepted(out_trade_no)))
    [notify] = await sandbox_notifies(api, out_trade_no, settled)
    assert notify["status"] == "delivered" and notify["attempts"] == 4
    assert [a["status_code"] for a in notify["log"]] == [500, 500, 500, 204]
    # every attempt carries the same notification id, so the merchant can deduplicate
    ids = {e["id"] for e in receiver.received if e["id"] == notify["notify_id"]}
    assert ids == {notify["notify_id"]}


async def test_notify_retry_waits_for_the_clock(pay, api, receiver):
    r = await api.post("/api/pay/config", json={"retry_time_factor": 1.0})
    assert r.status_code == 200
    receiver.fail_next = 1
    out_trade_no, prepay_id = await place(pay, receiver)
    await user_pays(api, pay, prepay_id)
    await receiver.wait(lambda: len([e for e in receiver.received if e["status"] == 500]) >= 1)
    await asyncio.sleep(0.6)
    assert not receiver.accepted(out_trade_no)  # the next try is 15 s away
    [notify] = (await api.get("/api/pay/notifies", params={"out_trade_no": out_trade_no})).json()
    assert notify["attempts"] == 1 and notify["status"] == "pending"
    clock.advance(RETRY_SCHEDULE_SECONDS[0] + 1)
    await receiver.wait(lambda: bool(receiver.accepted(out_trade_no)))


async def test_deliver_endpoint_runs_one_pass(pay, api, receiver):
    out_trade_no, prepay_id = await place(pay, receiver)
    await user_pays(api, pay, prepay_id)
    r = await api.post("/api/pay/notifies/deliver")
    assert r.status_code == 200 and r.json()["sent"] in (0, 1)  # the loop may have been first
    await receiver.wait(lambda: bool(receiver.accepted(out_trade_no)))


async def test_bill_availability_follows_wechats_rules(pay, api, receiver):
    from datetime import datetime
    from datetime import time as dtime

    from core.clock import SHANGHAI

    # pay an order yesterday (Shanghai), then ask for that day's bill at 09:00 and at 10:30 today
    yesterday = clock.now_shanghai().date() - timedelta(days=1)
    clock.freeze(datetime.combine(yesterday, dtime(15, 0), tzinfo=SHANGHAI))
    out_trade_no, prepay_id = await place(pay, receiver, total_fen=12345)
    await user_pays(api, pay, prepay_id)
    clock.freeze(datetime.combine(yesterday + timedelta(days=1), dtime(9, 0), tzinfo=SHANGHAI))
    with pytest.raises(WeChatPayError) as early:
        await pay.trade_bill(yesterday)
    assert early.value.code == "STATEMENT_CREATING"
    with pytest.raises(WeChatPayError) as future:
        await pay.trade_bill(yesterday + timedelta(days=2))
    assert future.value.code == "NO_STATEMENT_EXIST"
    assert (await pay.fetch_trade_bill(yesterday + timedelta(days=1))).rows == []  # dev: today so far
    r = await api.post("/api/pay/config", json={"bill_today": False})
    assert r.status_code == 200
    with pytest.raises(WeChatPayError) as today:
        await pay.trade_bill(yesterday + timedelta(days=1))
    assert today.value.code == "NO_STATEMENT_EXIST"
    clock.freeze(datetime.combine(yesterday + timedelta(days=1), dtime(10, 30), tzinfo=SHANGHAI))
    bill = await pay.fetch_trade_bill(yesterday)
    [row] = [r for r in bill.rows if r.out_trade_no == out_trade_no]
    assert row.total_fen == row.settlement_total_fen == 12345 and row.fee_fen == 74
    assert row.trade_time.date() == yesterday
    # the sandbox's own API gives the same file directly
    r = await api.get(f"/api/pay/bills/{yesterday.isoformat()}")
    assert r.status_code == 200 and hashlib.sha1(r.content).hexdigest() == r.headers["x-hash-value"]
    assert out_trade_no.encode() in r.content


async def test_wechatpayv3_signs_requests_the_sandbox_accepts_and_verifies_its_answers(sandbox, api, receiver):
    from wechatpayv3 import WeChatPay, WeChatPayType

    from wechat.pay_crypto import private_key_pem, public_key_pem
    from wechat.sandbox.keys import sandbox_keys

    s = get_settings()
    keys = sandbox_keys()
    theirs = WeChatPay(
        wechatpay_type=WeChatPayType.JSAPI,
        mchid=s.wechatpay_mchid,
        private_key=s.merchant_key_path.read_text(),
        cert_serial_no=s.wechatpay_merchant_serial,
        appid=s.wechat_appid,
        apiv3_key=s.wechatpay_apiv3_key,
        notify_url=receiver.url,
        public_key=public_key_pem(keys.platform_public).decode(),
        public_key_id=keys.platform_serial,
        timeout=(5, 10),
    )
    theirs._core._gate_way = sandbox
    assert private_key_pem  # imported for symmetry with the unit interop tests
    out_trade_no = trade_no("V")
    # wechatpayv3 is synchronous (requests): run it off the loop that serves the sandbox
    code, text = await asyncio.to_thread(
        theirs.pay,
        description="鲜牛奶",
        out_trade_no=out_trade_no,
        amount={"total": 880, "currency": "CNY"},
        payer={"openid": "oSandboxUser0000000000000001"},
    )
    assert code == 200, text  # and its own response verification passed (it raises otherwise)
    prepay_id = json.loads(text)["prepay_id"]
    code, text = await asyncio.to_thread(theirs.query, out_trade_no=out_trade_no)
    assert code == 200 and json.loads(text)["trade_state"] == "NOTPAY"
    async with client_for(sandbox) as ours:
        receiver.client = ours
        await user_pays(api, ours, prepay_id)
        await receiver.wait(lambda: bool(receiver.accepted(out_trade_no)))
        # the same notify bytes also pass wechatpayv3's callback verification and decryption
        entry = next(
            e for e in receiver.received if "notify" in e and e["notify"].resource["out_trade_no"] == out_trade_no
        )
        result = theirs.callback(entry["headers"], entry["body"])
        assert result is not None and result["resource"]["amount"]["total"] == 880
    code, text = await asyncio.to_thread(
        theirs.refund,
        out_refund_no="R" + out_trade_no,
        amount={"refund": 880, "total": 880, "currency": "CNY"},
        out_trade_no=out_trade_no,
    )
    assert code == 200 and json.loads(text)["status"] == "PROCESSING"
    code, text = await asyncio.to_thread(theirs.query_refund, out_refund_no="R" + out_trade_no)
    assert code == 200
    code, _ = await asyncio.to_thread(theirs.close, out_trade_no=trade_no("V") + "X")
    assert code == 404
    code, text = await asyncio.to_thread(theirs.trade_bill, bill_date=clock.now_shanghai().date().isoformat())
    assert code == 200, text
    info = json.loads(text)
    code, content = await asyncio.to_thread(theirs.download_bill, info["download_url"])
    assert code == 200
    import gzip as gz

    assert hashlib.sha1(gz.decompress(content)).hexdigest() == info["hash_value"]
    # and a wechatpayv3 request with a broken key is refused by the sandbox
    theirs._core._private_key = generate_private_key()
    code, text = await asyncio.to_thread(theirs.query, out_trade_no=out_trade_no)
    assert code == 401 and json.loads(text)["code"] == "SIGN_ERROR"


async def test_pay_models_match_migration_0003(database):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import wechat.sandbox.pay_models  # noqa: F401 - registers the tables on Base.metadata
    from core.db import Base, get_engine

    def in_schema(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        return name == "sandbox" if type_ == "schema" else True

    def ours(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is not None and table.schema == "sandbox" and table.name.startswith("pay_")

    def diff(conn: Any) -> list[Any]:
        ctx = MigrationContext.configure(
            conn,
            opts={"include_schemas": True, "include_name": in_schema, "include_object": ours, "compare_type": True},
        )
        return list(compare_metadata(ctx, Base.metadata))

    async with get_engine().connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_out_trade_no_with_special_characters_is_signed_as_sent(pay, api, receiver):
    out_trade_no = "T_sp-" + trade_no("")[-10:] + "|*@"
    await pay.create_native_order(out_trade_no=out_trade_no, description="x", total_fen=1, notify_url=receiver.url)
    assert (await pay.query_order(out_trade_no)).out_trade_no == out_trade_no
    await pay.close_order(out_trade_no)
    assert (await pay.query_order(out_trade_no)).trade_state == "CLOSED"
