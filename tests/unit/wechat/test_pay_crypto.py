"""WeChat Pay v3 crypto: request signatures, platform verification (rotation, ±300 s, probes, raw bytes), AES-GCM."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core import clock
from wechat.pay import (
    DecryptError,
    MissingSignatureHeaders,
    PlatformVerifier,
    SignatureError,
    SignTestProbe,
    StaleTimestamp,
    UnknownSerial,
    build_authorization,
    decrypt_resource,
    encrypt_resource,
    jsapi_pay_params,
    parse_notify,
    sign_response,
    verify_request,
)
from wechat.pay_crypto import (
    generate_private_key,
    load_private_key,
    load_public_key,
    parse_authorization,
    private_key_pem,
    public_key_pem,
    request_message,
    verify_jsapi_pay_params,
)

APIV3 = "0123456789abcdef0123456789ABCDEF"
MCHID = "1900000109"
MERCHANT_SERIAL = "5A4D5B0C0FA1E1D3TEST0000000001"
SERIAL_A = "PUB_KEY_ID_0114232134912410000000000000AAAA"
SERIAL_B = "PUB_KEY_ID_0114232134912410000000000000BBBB"
NOW = datetime(2025, 3, 14, 2, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def keys():
    return {"merchant": generate_private_key(), "a": generate_private_key(), "b": generate_private_key()}


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.freeze(NOW)
    yield
    clock.reset()


def ts() -> int:
    return int(NOW.timestamp())


# --- requests (merchant → WeChat) ---------------------------------------------------------------


def test_authorization_header_has_wechats_exact_shape(keys):
    header = build_authorization(
        "POST",
        "/v3/pay/transactions/jsapi",
        b'{"a":1}',
        mchid=MCHID,
        serial_no=MERCHANT_SERIAL,
        private_key=keys["merchant"],
        nonce="NONCE123",
    )
    assert re.fullmatch(
        r'WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="NONCE123",signature="[A-Za-z0-9+/=]+",'
        rf'timestamp="{ts()}",serial_no="{MERCHANT_SERIAL}"',
        header,
    )
    assert request_message("post", "/v3/x?a=1", 1, "N", b"B") == b"POST\n/v3/x?a=1\n1\nN\nB\n"


def test_request_signature_round_trip_and_every_part_is_covered(keys):
    body = json.dumps({"description": "牛奶", "amount": {"total": 1}}, ensure_ascii=False).encode()
    path = "/v3/pay/transactions/out-trade-no/O123/close?mchid=1900000109"
    header = build_authorization(
        "POST", path, body, mchid=MCHID, serial_no=MERCHANT_SERIAL, private_key=keys["merchant"]
    )
    merchant = {MERCHANT_SERIAL: keys["merchant"].public_key()}
    auth = verify_request("POST", path, body, header, merchant_keys=merchant, mchid=MCHID)
    assert auth.mchid == MCHID and auth.serial_no == MERCHANT_SERIAL
    with pytest.raises(SignatureError):
        verify_request("GET", path, body, header, merchant_keys=merchant)
    with pytest.raises(SignatureError):
        verify_request("POST", "/sandbox" + path, body, header, merchant_keys=merchant)
    with pytest.raises(SignatureError):
        verify_request("POST", path, body + b" ", header, merchant_keys=merchant)
    with pytest.raises(SignatureError, match="mchid"):
        verify_request("POST", path, body, header, merchant_keys=merchant, mchid="1900000000")
    with pytest.raises(UnknownSerial):
        verify_request("POST", path, body, header, merchant_keys={"OTHER": keys["merchant"].public_key()})
    with pytest.raises(SignatureError):
        verify_request("POST", path, body, header, merchant_keys={MERCHANT_SERIAL: keys["a"].public_key()})
    with pytest.raises(MissingSignatureHeaders):
        verify_request("POST", path, body, None, merchant_keys=merchant)
    with pytest.raises(SignatureError, match="scheme"):
        verify_request("POST", path, body, "Bearer abc", merchant_keys=merchant)


def test_request_timestamp_window_is_300_seconds(keys):
    merchant = {MERCHANT_SERIAL: keys["merchant"].public_key()}
    for offset, ok in ((-300, True), (300, True), (-301, False), (301, False)):
        header = build_authorization(
            "GET",
            "/v3/x",
            b"",
            mchid=MCHID,
            serial_no=MERCHANT_SERIAL,
            private_key=keys["merchant"],
            timestamp=ts() + offset,
        )
        if ok:
            verify_request("GET", "/v3/x", b"", header, merchant_keys=merchant)
        else:
            with pytest.raises(StaleTimestamp):
                verify_request("GET", "/v3/x", b"", header, merchant_keys=merchant)


def test_parse_authorization_accepts_any_parameter_order():
    auth = parse_authorization(
        'WECHATPAY2-SHA256-RSA2048 serial_no="S",timestamp="1",signature="c2ln",nonce_str="N",mchid="M"'
    )
    assert (auth.mchid, auth.nonce_str, auth.signature, auth.timestamp, auth.serial_no) == ("M", "N", "c2ln", "1", "S")
    with pytest.raises(SignatureError):
        parse_authorization('WECHATPAY2-SHA256-RSA2048 mchid="M"')


# --- responses and callbacks (WeChat → merchant) -------------------------------------------------


def test_response_signature_round_trip_sends_all_five_headers(keys):
    body = b'{"prepay_id":"wx1"}'
    headers = sign_response(body, private_key=keys["a"], serial=SERIAL_A)
    assert set(headers) == {
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Signature",
        "Wechatpay-Serial",
        "Wechatpay-Signature-Type",
    }
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    verifier = PlatformVerifier({SERIAL_A: keys["a"].public_key()})
    verified = verifier.verify(headers, body)
    assert verified.serial == SERIAL_A and verified.timestamp == ts()
    # header names are case-insensitive on the wire
    verifier.verify({k.lower(): v for k, v in headers.items()}, body)


def test_rotation_accepts_both_keys_by_serial_and_nothing_else(keys):
    verifier = PlatformVerifier([(SERIAL_A, keys["a"].public_key()), (SERIAL_B, keys["b"].public_key())])
    body = b'{"trade_state":"SUCCESS"}'
    for serial, key in ((SERIAL_A, keys["a"]), (SERIAL_B, keys["b"])):
        assert verifier.verify(sign_response(body, private_key=key, serial=serial), body).serial == serial
    # signed by A but claiming B's serial: the serial picks the key, so it fails
    with pytest.raises(SignatureError):
        verifier.verify(sign_response(body, private_key=keys["a"], serial=SERIAL_B), body)
    with pytest.raises(UnknownSerial):
        verifier.verify(sign_response(body, private_key=keys["a"], serial="PUB_KEY_ID_RETIRED"), body)
    # after the rotation ends, the old key alone no longer verifies the new serial
    only_b = PlatformVerifier({SERIAL_B: keys["b"].public_key()})
    with pytest.raises(UnknownSerial):
        only_b.verify(sign_response(body, private_key=keys["a"], serial=SERIAL_A), body)


def test_from_files_matches_serials_and_paths_by_position(keys, tmp_path):
    pa, pb = tmp_path / "a.pem", tmp_path / "b.pem"
    pa.write_bytes(public_key_pem(keys["a"].public_key()))
    pb.write_bytes(public_key_pem(keys["b"].public_key()))
    verifier = PlatformVerifier.from_files([SERIAL_A, SERIAL_B], [pa, pb])
    body = b"{}"
    verifier.verify(sign_response(body, private_key=keys["b"], serial=SERIAL_B), body)
    with pytest.raises(Exception, match="matched by position"):
        PlatformVerifier.from_files([SERIAL_A], [pa, pb])


@pytest.mark.parametrize(("offset", "ok"), [(0, True), (-300, True), (300, True), (-301, False), (301, False)])
def test_response_timestamp_window(keys, offset, ok):
    verifier = PlatformVerifier({SERIAL_A: keys["a"].public_key()})
    body = b"{}"
    headers = sign_response(body, private_key=keys["a"], serial=SERIAL_A, timestamp=ts() + offset)
    if ok:
        verifier.verify(headers, body)
    else:
        with pytest.raises(StaleTimestamp):
            verifier.verify(headers, body)


def test_the_window_follows_the_injectable_clock(keys):
    verifier = PlatformVerifier({SERIAL_A: keys["a"].public_key()})
    body = b"{}"
    headers = sign_response(body, private_key=keys["a"], serial=SERIAL_A)
    clock.advance(timedelta(seconds=299))
    verifier.verify(headers, body)
    clock.advance(timedelta(seconds=2))
    with pytest.raises(StaleTimestamp):
        verifier.verify(headers, body)


def test_signtest_probe_is_rejected_even_with_a_known_serial(keys):
    verifier = PlatformVerifier({SERIAL_A: keys["a"].public_key()})
    body = b'{"id":"probe"}'
    headers = sign_response(body, private_key=keys["a"], serial=SERIAL_A)
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + base64.b64encode(b"x" * 64).decode()
    with pytest.raises(SignTestProbe):
        verifier.verify(headers, body)


def test_verification_is_over_the_raw_bytes(keys):
    verifier = PlatformVerifier({SERIAL_A: keys["a"].public_key()})
    data = {"summary": "支付成功", "amount": {"total": 100}}
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    headers = sign_response(raw, private_key=keys["a"], serial=SERIAL_A)
    verifier.verify(headers, raw)
    # the same JSON re-serialized (escapes, spaces, key order) is different bytes and must fail
    for other in (
        json.dumps(data).encode(),
        json.dumps(data, ensure_ascii=False).encode(),
        raw.replace(b"\n", b"") + b"\n",
    ):
        with pytest.raises(SignatureError):
            verifier.verify(headers, other)


def test_missing_headers_and_bad_signature_type(keys):
    verifier = PlatformVerifier({SERIAL_A: keys["a"].public_key()})
    headers = sign_response(b"{}", private_key=keys["a"], serial=SERIAL_A)
    for name in ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"):
        partial = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(MissingSignatureHeaders):
            verifier.verify(partial, b"{}")
    with pytest.raises(SignatureError, match="signature type"):
        verifier.verify({**headers, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, b"{}")
    with pytest.raises(SignatureError):
        verifier.verify({**headers, "Wechatpay-Signature": "not base64!"}, b"{}")


# --- AEAD_AES_256_GCM ---------------------------------------------------------------------------


def test_aes_gcm_round_trip_and_failures():
    plaintext = json.dumps({"out_trade_no": "O1", "amount": {"total": 1}}).encode()
    resource = encrypt_resource(plaintext, APIV3, associated_data="transaction", original_type="transaction")
    assert resource["algorithm"] == "AEAD_AES_256_GCM" and len(resource["nonce"]) == 12
    assert decrypt_resource(resource, APIV3) == plaintext
    with pytest.raises(DecryptError):
        decrypt_resource(resource, "X" * 32)
    with pytest.raises(DecryptError):
        decrypt_resource({**resource, "associated_data": "refund"}, APIV3)
    raw = bytearray(base64.b64decode(resource["ciphertext"]))
    raw[0] ^= 1
    with pytest.raises(DecryptError):
        decrypt_resource({**resource, "ciphertext": base64.b64encode(bytes(raw)).decode()}, APIV3)
    with pytest.raises(DecryptError):
        decrypt_resource({**resource, "algorithm": "AES_CBC"}, APIV3)


def test_aes_gcm_matches_a_direct_cryptography_vector():
    nonce, aad, plaintext = "0123456789ab", "transaction", b'{"k":"v"}'
    ciphertext = base64.b64encode(AESGCM(APIV3.encode()).encrypt(nonce.encode(), plaintext, aad.encode())).decode()
    resource = {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": aad, "ciphertext": ciphertext}
    assert decrypt_resource(resource, APIV3) == plaintext
    assert (
        encrypt_resource(plaintext, APIV3, associated_data=aad, original_type="transaction", nonce=nonce)["ciphertext"]
        == ciphertext
    )


# --- notifies -----------------------------------------------------------------------------------


def _notify(keys, *, apiv3=APIV3, serial=SERIAL_A, key="a"):
    resource = {"out_trade_no": "O1", "trade_state": "SUCCESS", "amount": {"total": 990, "payer_total": 990}}
    envelope = {
        "id": "EV-1",
        "create_time": "2025-03-14T10:00:00+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": encrypt_resource(
            json.dumps(resource), apiv3, associated_data="transaction", original_type="transaction"
        ),
    }
    body = json.dumps(envelope, ensure_ascii=False).encode()
    return sign_response(body, private_key=keys[key], serial=serial), body


def test_parse_notify_verifies_then_decrypts(keys):
    verifier = PlatformVerifier({SERIAL_A: keys["a"].public_key()})
    headers, body = _notify(keys)
    notify = parse_notify(headers, body, verifier=verifier, apiv3_key=APIV3)
    assert notify.event_type == "TRANSACTION.SUCCESS" and notify.id == "EV-1"
    tx = notify.transaction()
    assert tx.out_trade_no == "O1" and tx.total_fen == 990 and tx.paid
    with pytest.raises(SignatureError):
        parse_notify(headers, body.replace(b"EV-1", b"EV-2"), verifier=verifier, apiv3_key=APIV3)
    headers, body = _notify(keys, apiv3="Y" * 32)
    with pytest.raises(DecryptError):
        parse_notify(headers, body, verifier=verifier, apiv3_key=APIV3)
    headers, body = _notify(keys, key="b")  # wrong key, right serial
    with pytest.raises(SignatureError):
        parse_notify(headers, body, verifier=verifier, apiv3_key=APIV3)


# --- JSAPI paySign --------------------------------------------------------------------------------


def test_jsapi_params_and_pay_sign(keys):
    params = jsapi_pay_params(keys["merchant"], app_id="wx1", prepay_id="wx2025", nonce="N1")
    assert params["package"] == "prepay_id=wx2025" and params["signType"] == "RSA"
    assert params["timeStamp"] == str(ts()) and params["nonceStr"] == "N1"
    assert verify_jsapi_pay_params(params, keys["merchant"].public_key())
    assert not verify_jsapi_pay_params({**params, "package": "prepay_id=other"}, keys["merchant"].public_key())
    assert not verify_jsapi_pay_params(params, keys["a"].public_key())


def test_key_loading_from_pem_text_and_files(keys, tmp_path):
    path = tmp_path / "k.pem"
    path.write_bytes(private_key_pem(keys["merchant"]))
    loaded = load_private_key(path)
    assert loaded.private_numbers() == keys["merchant"].private_numbers()
    assert load_public_key(public_key_pem(keys["a"].public_key()).decode()).public_numbers() == (
        keys["a"].public_key().public_numbers()
    )
