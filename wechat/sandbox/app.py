"""Assembles the WeChat sandbox: mounted at /sandbox in the dev app, or alone at the root of its own port."""

from __future__ import annotations

from litestar import Litestar, Router

from core.logging import configure_logging
from core.settings import get_settings
from wechat.sandbox.oauth import oauth_router
from wechat.sandbox.official import official_router
from wechat.sandbox.pay import pay_router
from wechat.sandbox.pay_loop import start_pay_sandbox, stop_pay_sandbox
from wechat.sandbox.phone import phone_router
from wechat.sandbox.wecom import wecom_router


def sandbox_router(prefix: str = "/sandbox") -> Router:
    """Every simulated WeChat host under one prefix: api.weixin.qq.com, open.weixin.qq.com,
    mp.weixin.qq.com (showqrcode), qyapi (under /qyapi), api.mch.weixin.qq.com (/v3), the phone page
    and the sandbox's own test API (/api/...)."""
    return Router(
        path=prefix,
        route_handlers=[official_router(), oauth_router(), wecom_router(), phone_router(), pay_router()],
        include_in_schema=False,
    )


async def on_startup() -> None:
    await start_pay_sandbox()


async def on_shutdown() -> None:
    await stop_pay_sandbox()


def create_standalone_app() -> Litestar:
    """`o2o sandbox`: the same routes at the root of their own port (B8 counts its CPU apart)."""
    from core.db import dispose_engine, get_engine

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)

    async def startup() -> None:
        get_engine()
        await on_startup()

    async def shutdown() -> None:
        await on_shutdown()
        await dispose_engine()

    return Litestar(
        route_handlers=[sandbox_router("/")],
        on_startup=[startup],
        on_shutdown=[shutdown],
        logging_config=None,
        openapi_config=None,
    )
