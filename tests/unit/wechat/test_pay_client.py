"""The async Pay client against a scripted transport: signing under a prefix, verification, typed errors, bills."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import httpx
import pytest

from core.settings import Settings
from wechat.pay import (
    BillHashMismatch,
    OrderNotFound,
    OrderPaid,
    SignatureError,
    WeChatPayClient,
    WeChatPayError,
    WeChatPayUnavailable,
    sign_response,
    verify_request,
)
from wechat.pay_bills import gzip_bill, render_trade_bill
from wechat.pay_crypto import generate_private_key, private_key_pem, public_key_pem

APIV3 = "0123456789abcdef0123456789ABCDEF"
MCHID = "1900000109"
APPID = "wx5andb0x0000demo"
MERCHANT_SERIAL = "MERCHANTSERIAL01"
PLATFORM_SERIAL = "PUB_KEY_ID_CLIENTTEST"


@pytest.fixture(scope="module")
def keys():
    return {"merchant": generate_private_key(), "platform": generate_private_key()}


class FakeWeChat:
    """Checks every request the way WeChat does, answers from a script, signs like the platform."""

    def __init__(self, keys, prefix="/sandbox"):
        self.keys = keys
        self.prefix = prefix
        self.seen: list[tuple[str, str, bytes]] = []
        self.answers: list[tuple[int, bytes, bool]] = []

    def answer(self, status: int, data=None, *, signed: bool = True, raw: bytes | None = None) -> None:
        body = raw if raw is not None else (b"" if data is None else json.dumps(data, ensure_ascii=False).encode())
        self.answers.append((status, body, signed))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        assert path.startswith(self.prefix + "/v3/")
        signed_path = path[len(self.prefix) :]
        verify_request(
            request.method,
            signed_path,
            request.content,
            request.headers.get("authorization"),
            merchant_keys={MERCHANT_SERIAL: self.keys["merchant"].public_key()},
            mchid=MCHID,
        )
        self.seen.append((request.method, signed_path, request.content))
        status, body, signed = self.answers.pop(0)
        headers = sign_response(body, private_key=self.keys["platform"], serial=PLATFORM_SERIAL) if signed else {}
        return httpx.Response(status, content=body, headers={**headers, "Content-Type": "application/json"})


def make_client(keys, fake, base="http://wechat.test/sandbox") -> WeChatPayClient:
    return WeChatPayClient(
        base_url=base,
        mchid=MCHID,
        appid=APPID,
        merchant_private_key=keys["merchant"],
        merchant_serial=MERCHANT_SERIAL,
        platform_keys={PLATFORM_SERIAL: keys["platform"].public_key()},
        apiv3_key=APIV3,
        transport=httpx.MockTransport(fake),
    )


async def test_jsapi_order_signs_the_path_relative_to_the_base_url(keys):
    fake = FakeWeChat(keys)
    fake.answer(200, {"prepay_id": "wx201410272009395522657a690389285100"})
    async with make_client(keys, fake) as client:
        prepay = await client.create_jsapi_order(
            out_trade_no="O20250314ABC", description="鲜牛奶", total_fen=1990, openid="oA", notify_url="https://m/n"
        )
        params = client.jsapi_params(prepay)
    assert prepay.startswith("wx")
    method, path, body = fake.seen[0]
    assert (method, path) == ("POST", "/v3/pay/transactions/jsapi")
    sent = json.loads(body)
    assert sent["amount"] == {"total": 1990, "currency": "CNY"} and sent["payer"] == {"openid": "oA"}
    assert sent["mchid"] == MCHID and sent["appid"] == APPID
    assert params["package"] == f"package={prepay}".replace("package=", "prepay_id=")


async def test_query_and_close_and_refund(keys):
    fake = FakeWeChat(keys, prefix="")
    fake.answer(200, {"out_trade_no": "O1", "trade_state": "SUCCESS", "transaction_id": "42", "amount": {"total": 5}})
    fake.answer(204)
    fake.answer(
        200, {"out_refund_no": "R1", "refund_id": "50", "status": "PROCESSING", "amount": {"refund": 5, "total": 5}}
    )
    fake.answer(
        200, {"out_refund_no": "R1", "refund_id": "50", "status": "SUCCESS", "amount": {"refund": 5, "total": 5}}
    )
    async with make_client(keys, fake, base="http://wechat.test") as client:
        tx = await client.query_order("O1")
        assert tx.trade_state == "SUCCESS" and tx.total_fen == 5 and tx.paid
        await client.close_order("O1")
        refund = await client.refund(out_trade_no="O1", out_refund_no="R1", refund_fen=5, total_fen=5)
        assert refund.status == "PROCESSING" and refund.refund_fen == 5
        assert (await client.query_refund("R1")).status == "SUCCESS"
    assert [p for _, p, _ in fake.seen] == [
        "/v3/pay/transactions/out-trade-no/O1?mchid=1900000109",
        "/v3/pay/transactions/out-trade-no/O1/close",
        "/v3/refund/domestic/refunds",
        "/v3/refund/domestic/refunds/R1",
    ]
    assert fake.seen[0][2] == b""  # GET signs an empty body


async def test_unsigned_or_forged_success_is_refused(keys):
    fake = FakeWeChat(keys)
    fake.answer(200, {"out_trade_no": "O1", "trade_state": "SUCCESS"}, signed=False)
    async with make_client(keys, fake) as client:
        with pytest.raises(SignatureError):
            await client.query_order("O1")
    other = {**keys, "platform": generate_private_key()}
    fake = FakeWeChat(other)
    fake.answer(200, {"out_trade_no": "O1", "trade_state": "SUCCESS"})
    fake.keys = {**other, "merchant": keys["merchant"]}
    async with make_client(keys, fake) as client:
        with pytest.raises(SignatureError):
            await client.query_order("O1")


async def test_wechat_errors_become_typed_exceptions(keys):
    fake = FakeWeChat(keys)
    fake.answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
    fake.answer(400, {"code": "ORDERPAID", "message": "该订单已支付"}, signed=False)
    fake.answer(400, {"code": "PARAM_ERROR", "message": "bad"})
    fake.answer(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
    async with make_client(keys, fake) as client:
        with pytest.raises(OrderNotFound) as info:
            await client.query_order("O404")
        assert (info.value.status_code, info.value.code, info.value.message) == (404, "ORDER_NOT_EXIST", "订单不存在")
        assert info.value.verified
        with pytest.raises(OrderPaid) as paid:
            await client.close_order("O1")
        assert not paid.value.verified
        with pytest.raises(WeChatPayError) as param:
            await client.query_order("O1")
        assert param.value.code == "PARAM_ERROR" and not param.value.retryable
        with pytest.raises(WeChatPayUnavailable) as down:
            await client.query_order("O1")
        assert down.value.retryable and down.value.status_code == 500


async def test_timeouts_and_connection_failures_are_retryable_errors(keys):
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with make_client(keys, hang) as client:
        with pytest.raises(WeChatPayUnavailable) as info:
            await client.query_order("O1")
    assert info.value.code == "TIMEOUT" and info.value.retryable


async def test_trade_bill_download_checks_sha1_over_the_decompressed_file(keys):
    data = render_trade_bill([])
    digest = hashlib.sha1(data).hexdigest()
    fake = FakeWeChat(keys)
    fake.answer(
        200,
        {
            "hash_type": "SHA1",
            "hash_value": digest,
            "download_url": "http://wechat.test/sandbox/v3/billdownload/file?token=T1",
        },
    )
    fake.answer(200, raw=gzip_bill(data), signed=False)
    async with make_client(keys, fake) as client:
        bill = await client.fetch_trade_bill(date(2025, 3, 13))
        assert bill.summary is not None and bill.summary.count == 0
        assert fake.seen[0][1] == "/v3/bill/tradebill?bill_date=2025-03-13&bill_type=ALL&tar_type=GZIP"
        assert fake.seen[1][1] == "/v3/billdownload/file?token=T1"
        fake.answer(
            200,
            {
                "hash_type": "SHA1",
                "hash_value": "0" * 40,
                "download_url": "http://wechat.test/sandbox/v3/billdownload/file?token=T2",
            },
        )
        fake.answer(200, raw=data, signed=False)
        with pytest.raises(BillHashMismatch):
            await client.fetch_trade_bill(date(2025, 3, 13), gzip=False)


async def test_from_settings_reads_keys_and_rotation_lists(keys, tmp_path):
    merchant = tmp_path / "m.pem"
    merchant.write_bytes(private_key_pem(keys["merchant"]))
    old, new = tmp_path / "old.pem", tmp_path / "new.pem"
    old.write_bytes(public_key_pem(generate_private_key().public_key()))
    new.write_bytes(public_key_pem(keys["platform"].public_key()))
    settings = Settings(
        o2o_env="dev",
        wechatpay_api_base="http://wechat.test/sandbox",
        wechatpay_merchant_key_file=merchant,
        wechatpay_merchant_serial=MERCHANT_SERIAL,
        wechatpay_platform_public_key_file=f"{old},{new}",
        wechatpay_platform_serial=f"PUB_KEY_ID_OLD,{PLATFORM_SERIAL}",
        wechatpay_apiv3_key=APIV3,
        wechatpay_mchid=MCHID,
        wechat_appid=APPID,
    )
    fake = FakeWeChat(keys)
    fake.answer(200, {"code_url": "weixin://wxpay/bizpayurl?pr=abc"})
    client = WeChatPayClient.from_settings(settings, transport=httpx.MockTransport(fake))
    assert client.verifier.serials == ["PUB_KEY_ID_OLD", PLATFORM_SERIAL]
    async with client:
        code_url = await client.create_native_order(
            out_trade_no="O20250314NAT", description="x", total_fen=1, notify_url="https://m/n"
        )
    assert code_url.startswith("weixin://")
    assert "PRIVATE" not in repr(client) and "key" not in repr(client).lower()


async def test_amounts_must_be_integer_fen(keys):
    async with make_client(keys, FakeWeChat(keys)) as client:
        for bad in (0, -1, 1.5, True, "100"):
            with pytest.raises(ValueError):
                await client.create_native_order(
                    out_trade_no="O20250314NAT", description="x", total_fen=bad, notify_url="https://m/n"
                )
