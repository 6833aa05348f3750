"""WeChat Pay v2 signatures against the official vector and wechatpy."""

from __future__ import annotations

from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac

from wechat import pay_v2

OFFICIAL = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "device_info": "1000",
    "body": "test",
    "nonce_str": "ibuaiVcKdpRxkhJA",
}
KEY = "192006250b4c09247ec02edce69f6a2d"


def test_official_md5_vector() -> None:
    assert pay_v2.string_to_sign(OFFICIAL, KEY) == (
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA"
        "&key=192006250b4c09247ec02edce69f6a2d"
    )
    assert pay_v2.sign(OFFICIAL, KEY) == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_matches_wechatpy() -> None:
    assert pay_v2.sign(OFFICIAL, KEY) == calculate_signature(OFFICIAL, KEY)
    assert pay_v2.sign(OFFICIAL, KEY, "HMAC-SHA256") == calculate_signature_hmac(OFFICIAL, KEY)


def test_empty_values_and_sign_are_skipped() -> None:
    params = {**OFFICIAL, "attach": "", "sign": "whatever"}
    assert pay_v2.sign(params, KEY) == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_verify_uses_the_messages_sign_type() -> None:
    signed = {**OFFICIAL, "sign": "9A0A8659F005D6984697E2CA0A9CF3B7"}
    assert pay_v2.verify(signed, KEY)
    hmac_signed = {**OFFICIAL, "sign_type": "HMAC-SHA256"}
    hmac_signed["sign"] = pay_v2.sign(hmac_signed, KEY, "HMAC-SHA256")
    assert pay_v2.verify(hmac_signed, KEY)
    assert not pay_v2.verify({**hmac_signed, "body": "tampered"}, KEY)
    assert not pay_v2.verify({**OFFICIAL, "sign": ""}, KEY)
    assert not pay_v2.verify({**signed, "sign_type": "RSA"}, KEY)
    assert not pay_v2.verify(signed, "wrong-key")
