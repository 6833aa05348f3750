"""Lifecycle of the WeChat protocol layer in the app: its shared HTTP clients close with the app."""

from __future__ import annotations

from wechat.official_base import aclose_http


async def on_shutdown() -> None:
    await aclose_http()
