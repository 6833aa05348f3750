"""The WeChat Pay client payments talks through (one per process and configuration) and our notify URL."""

from __future__ import annotations

import asyncio

from core.settings import Settings, get_settings
from wechat.pay import WeChatPayClient

NOTIFY_PATH = "/payments/wechatpay/notify"

_clients: dict[tuple[object, ...], WeChatPayClient] = {}
_lock = asyncio.Lock()


def _key(s: Settings) -> tuple[object, ...]:
    return (
        s.wechatpay_api,
        s.wechatpay_mchid,
        s.wechat_appid,
        str(s.merchant_key_path),
        s.wechatpay_merchant_serial,
        s.wechatpay_platform_serial,
        tuple(str(p) for p in s.platform_public_key_paths),
        s.wechatpay_apiv3_key,
    )


def _build(s: Settings) -> WeChatPayClient:
    if s.is_dev and not s.merchant_key_path.exists():
        # Dev: the sandbox generates the key pairs the dev settings point at.
        from wechat.sandbox.keys import sandbox_keys

        sandbox_keys(s)
    return WeChatPayClient.from_settings(s)


async def pay_client() -> WeChatPayClient:
    """The client for the current settings (tests change settings; a new configuration gets a new client)."""
    s = get_settings()
    key = _key(s)
    client = _clients.get(key)
    if client is None:
        async with _lock:
            client = _clients.get(key)
            if client is None:
                client = await asyncio.to_thread(_build, s)
                _clients[key] = client
    return client


async def close_clients() -> None:
    for client in list(_clients.values()):
        await client.aclose()
    _clients.clear()


def notify_url(settings: Settings | None = None) -> str:
    return (settings or get_settings()).base_url + NOTIFY_PATH
