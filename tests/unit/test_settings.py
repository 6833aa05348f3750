"""Settings: defaults in dev, refusal in prod with sandbox keys or missing secrets."""

import pytest

from core.settings import SANDBOX_APPID, Settings

PROD_OK = {
    "o2o_env": "prod",
    "wechat_appid": "wx1234567890abcdef",
    "wechat_secret": "real-secret",
    "wechat_token": "realtoken",
    "wechat_aes_key": "Z" * 43,
    "wechatpay_mchid": "1234567890",
    "wechatpay_apiv3_key": "R" * 32,
    "wechatpay_merchant_key_file": "/etc/o2o/merchant.pem",
    "wechatpay_merchant_serial": "ABCDEF",
    "wechatpay_platform_public_key_file": "/etc/o2o/pub1.pem,/etc/o2o/pub2.pem",
    "wechatpay_platform_serial": "PUB_KEY_ID_1,PUB_KEY_ID_2",
    "wecom_corpid": "wwreal",
    "wecom_secret": "wecom-real",
    "public_base_url": "https://shop.example.com",
    "secret_key": "a-real-secret-key-for-sessions-0123456789",
}


def test_dev_defaults_point_at_sandbox() -> None:
    s = Settings(_env_file=None, o2o_env="dev", port=8123, public_base_url=None)
    assert s.wechat_appid == SANDBOX_APPID
    assert s.wechat_api == "http://127.0.0.1:8123/sandbox"
    assert s.wechatpay_api == "http://127.0.0.1:8123/sandbox"


def test_prod_with_sandbox_values_refuses_and_names_them() -> None:
    with pytest.raises(ValueError) as err:
        Settings(_env_file=None, o2o_env="prod", public_base_url=None)
    text = str(err.value)
    for name in (
        "WECHAT_APPID",
        "WECHATPAY_APIV3_KEY",
        "WECHATPAY_MERCHANT_KEY_FILE",
        "PUBLIC_BASE_URL",
        "SECRET_KEY",
    ):
        assert name in text


def test_prod_with_one_sandbox_value_left_names_only_it() -> None:
    with pytest.raises(ValueError) as err:
        Settings(_env_file=None, **{**PROD_OK, "wecom_secret": Settings.model_fields["wecom_secret"].default})
    assert "WECOM_SECRET" in str(err.value)
    assert "WECHAT_APPID" not in str(err.value)


def test_prod_with_real_values_starts_and_points_at_wechat() -> None:
    s = Settings(_env_file=None, **PROD_OK)
    assert s.wechat_api == "https://api.weixin.qq.com"
    assert s.wechatpay_api == "https://api.mch.weixin.qq.com"
    assert s.platform_serials == ["PUB_KEY_ID_1", "PUB_KEY_ID_2"]
    assert [str(p) for p in s.platform_public_key_paths] == ["/etc/o2o/pub1.pem", "/etc/o2o/pub2.pem"]


@pytest.mark.parametrize(("field", "value"), [("wechat_aes_key", "short"), ("wechatpay_apiv3_key", "x" * 31)])
def test_malformed_keys_refused(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field.upper()):
        Settings(_env_file=None, **{field: value})
