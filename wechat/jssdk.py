"""JS-SDK: the wx.config signature over the jsapi_ticket, and the config object an H5 page needs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from core import clock

if TYPE_CHECKING:
    from wechat.official import OfficialAccount


def page_url(url: str) -> str:
    """The URL as signed: everything before '#' (WeChat never sees the fragment)."""
    return url.split("#", 1)[0]


def jsapi_signature(ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    text = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page_url(url)}"
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - WeChat's algorithm


def check_jsapi_signature(ticket: str, noncestr: str, timestamp: int | str, url: str, signature: str) -> bool:
    return hmac.compare_digest(jsapi_signature(ticket, noncestr, timestamp, url), (signature or "").lower())


def build_config(
    appid: str,
    ticket: str,
    url: str,
    *,
    js_api_list: list[str] | None = None,
    debug: bool = False,
    noncestr: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The object passed to `wx.config(...)`: appId, timestamp, nonceStr, signature, jsApiList."""
    noncestr = noncestr or secrets.token_hex(8)
    timestamp = timestamp if timestamp is not None else int(clock.now().timestamp())
    return {
        "debug": debug,
        "appId": appid,
        "timestamp": timestamp,
        "nonceStr": noncestr,
        "signature": jsapi_signature(ticket, noncestr, timestamp, url),
        "jsApiList": list(js_api_list or []),
    }


async def js_config(
    account: OfficialAccount, url: str, *, js_api_list: list[str] | None = None, debug: bool = False
) -> dict[str, Any]:
    """wx.config for `url`, with the jsapi_ticket shared through Redis by the account client."""
    ticket = await account.jsapi_ticket()
    return build_config(account.appid, ticket, url, js_api_list=js_api_list, debug=debug)
