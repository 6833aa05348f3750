"""Interop with the independent PyPI implementation `wechatpayv3` (public-key mode): same vectors both ways."""

from __future__ import annotations

import json

import pytest
import wechatpayv3.utils as v3utils
from wechatpayv3 import WeChatPay, WeChatPayType

from core import clock
from wechat.pay import (
    PlatformVerifier,
    build_authorization,
    encrypt_resource,
    jsapi_pay_sign,
    parse_notify,
    sign_response,
    verify_request,
)
from wechat.pay_crypto import generate_private_key, private_key_pem, public_key_pem, rsa_sign

APIV3 = "0123456789abcdef0123456789ABCDEF"
MCHID = "1900000109"
APPID = "wx5andb0x0000demo"
MERCHANT_SERIAL = "5A4D5B0C0FA1E1D3INTEROP0000001"
PLATFORM_SERIAL = "PUB_KEY_ID_0114232134912410000000000000INTEROP"


@pytest.fixture(scope="module")
def keys():
    return {"merchant": generate_private_key(), "platform": generate_private_key()}


@pytest.fixture(scope="module")
def theirs(keys) -> WeChatPay:
    # Public-key mode: certificate mode would download certificates from the real gateway.
    return WeChatPay(
        wechatpay_type=WeChatPayType.JSAPI,
        mchid=MCHID,
        private_key=private_key_pem(keys["merchant"]).decode(),
        cert_serial_no=MERCHANT_SERIAL,
        appid=APPID,
        apiv3_key=APIV3,
        public_key=public_key_pem(keys["platform"].public_key()).decode(),
        public_key_id=PLATFORM_SERIAL,
    )


@pytest.fixture(autouse=True)
def real_clock():
    clock.reset()  # wechatpayv3 stamps with time.time()
    yield
    clock.reset()


def test_their_request_signature_verifies_with_ours(keys):
    body = {"appid": APPID, "mchid": MCHID, "description": "鲜牛奶", "amount": {"total": 1, "currency": "CNY"}}
    header = v3utils.build_authorization(
        "/v3/pay/transactions/jsapi", "POST", MCHID, MERCHANT_SERIAL, keys["merchant"], data=body
    )
    # wechatpayv3 signs json.dumps(data) and requests sends exactly that
    verify_request(
        "POST",
        "/v3/pay/transactions/jsapi",
        json.dumps(body).encode(),
        header,
        merchant_keys={MERCHANT_SERIAL: keys["merchant"].public_key()},
        mchid=MCHID,
    )


def test_request_signatures_are_identical_for_the_same_vector(keys, monkeypatch):
    monkeypatch.setattr(v3utils.time, "time", lambda: 1700000000.5)
    path = "/v3/pay/transactions/out-trade-no/O1?mchid=1900000109"
    their = v3utils.build_authorization(path, "GET", MCHID, MERCHANT_SERIAL, keys["merchant"], nonce_str="NONCE42")
    ours = build_authorization(
        "GET",
        path,
        b"",
        mchid=MCHID,
        serial_no=MERCHANT_SERIAL,
        private_key=keys["merchant"],
        timestamp=1700000000,
        nonce="NONCE42",
    )
    assert ours == their


def test_our_response_signature_verifies_with_theirs(keys, theirs):
    body = '{"prepay_id":"wx20250314","note":"中文"}'
    headers = sign_response(body.encode(), private_key=keys["platform"], serial=PLATFORM_SERIAL)
    assert theirs._core._verify_signature(headers, body) is True
    assert theirs._core._verify_signature(headers, body.replace("wx", "xx")) is False


def test_same_response_vector_both_ways(keys):
    message = "1700000000\nNONCE\n{}\n"
    ours = sign_response(
        b"{}", private_key=keys["platform"], serial=PLATFORM_SERIAL, timestamp=1700000000, nonce="NONCE"
    )
    assert ours["Wechatpay-Signature"] == v3utils.rsa_sign(keys["platform"], message)
    assert v3utils.rsa_verify("1700000000", "NONCE", "{}", ours["Wechatpay-Signature"], keys["platform"].public_key())


def test_our_notify_decrypts_with_theirs_and_theirs_with_ours(keys, theirs):
    resource = {"out_trade_no": "O1", "trade_state": "SUCCESS", "amount": {"total": 1990, "payer_total": 1990}}
    envelope = {
        "id": "EV-interop",
        "create_time": "2025-03-14T10:00:00+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": encrypt_resource(
            json.dumps(resource, ensure_ascii=False), APIV3, associated_data="transaction", original_type="transaction"
        ),
    }
    body = json.dumps(envelope, ensure_ascii=False).encode()
    headers = sign_response(body, private_key=keys["platform"], serial=PLATFORM_SERIAL)
    result = theirs.callback(headers, body)
    assert result is not None and result["resource"] == resource
    ours = parse_notify(
        headers, body, verifier=PlatformVerifier({PLATFORM_SERIAL: keys["platform"].public_key()}), apiv3_key=APIV3
    )
    assert ours.resource == resource
    # their AES decrypt and ours agree on the raw resource too
    r = envelope["resource"]
    assert json.loads(v3utils.aes_decrypt(r["nonce"], r["ciphertext"], r["associated_data"], APIV3)) == resource


def test_pay_sign_is_the_same(keys, theirs):
    parts = [APPID, "1700000000", "NONCESTR", "prepay_id=wx2025"]
    assert theirs.sign(parts) == jsapi_pay_sign(keys["merchant"], *parts)
    assert rsa_sign(keys["merchant"], "\n".join(parts) + "\n") == theirs.sign(parts)
