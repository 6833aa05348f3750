"""JS-SDK signature: WeChat's documented example."""

from __future__ import annotations

from wechat.jssdk import build_config, check_jsapi_signature, jsapi_signature

# From the JS-SDK documentation (附录1-JS-SDK使用权限签名算法).
TICKET = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
NONCE = "Wm3WZYTPz0wzccnW"
TIMESTAMP = 1414587457
URL = "http://mp.weixin.qq.com?params=value"
SIGNATURE = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_documented_vector() -> None:
    assert jsapi_signature(TICKET, NONCE, TIMESTAMP, URL) == SIGNATURE


def test_fragment_is_not_signed() -> None:
    assert jsapi_signature(TICKET, NONCE, TIMESTAMP, URL + "#/cart") == SIGNATURE
    assert check_jsapi_signature(TICKET, NONCE, str(TIMESTAMP), URL + "#x", SIGNATURE.upper())
    assert not check_jsapi_signature(TICKET, NONCE, TIMESTAMP, URL + "&x=1", SIGNATURE)


def test_build_config() -> None:
    cfg = build_config("wxabc", TICKET, URL, js_api_list=["chooseWXPay"], noncestr=NONCE, timestamp=TIMESTAMP)
    assert cfg == {
        "debug": False,
        "appId": "wxabc",
        "timestamp": TIMESTAMP,
        "nonceStr": NONCE,
        "signature": SIGNATURE,
        "jsApiList": ["chooseWXPay"],
    }
