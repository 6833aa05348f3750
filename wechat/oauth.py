"""Web-page OAuth (H5 sign-in): authorize URL, state, code → openid exchange, user info."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from core.settings import Settings, get_settings
from wechat.errors import OAuthStateMismatch
from wechat.official_base import DEFAULT_TIMEOUT, http_client, request_json

SCOPE_BASE = "snsapi_base"  # silent: openid only
SCOPE_USERINFO = "snsapi_userinfo"  # asks the user: nickname and avatar


@dataclass(frozen=True)
class OAuthToken:
    """The result of exchanging a code. `access_token` here is the user's, not the account's."""

    openid: str
    scope: str
    access_token: str
    expires_in: int
    refresh_token: str
    unionid: str | None = None
    is_snapshotuser: bool = False  # a "snapshot" page view: no real sign-in happened


@dataclass(frozen=True)
class UserInfo:
    openid: str
    nickname: str
    headimgurl: str
    sex: int = 0
    province: str = ""
    city: str = ""
    country: str = ""
    unionid: str | None = None


def new_state() -> str:
    """A random `state` (WeChat allows a-zA-Z0-9, ≤ 128 bytes); store it in the session before redirecting."""
    return secrets.token_hex(16)


def check_state(expected: str | None, received: str | None) -> None:
    """Refuse a callback whose state is not the one we issued (a forged or replayed sign-in)."""
    if not expected or not received or not hmac.compare_digest(expected, received):
        raise OAuthStateMismatch("the sign-in state does not match; start the sign-in again")


class OAuthClient:
    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        api_base: str,
        open_base: str,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    ) -> None:
        self.appid = appid
        self._secret = secret
        self.api_base = api_base.rstrip("/")
        self.open_base = open_base.rstrip("/")
        self._http = http
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> OAuthClient:
        s = settings or get_settings()
        return cls(s.wechat_appid, s.wechat_secret, api_base=s.wechat_api, open_base=s.wechat_open, **kwargs)

    def authorize_url(self, redirect_uri: str, state: str, scope: str = SCOPE_BASE) -> str:
        """Where to send the browser. WeChat wants the parameters in this order and `#wechat_redirect`."""
        if scope not in (SCOPE_BASE, SCOPE_USERINFO):
            raise ValueError(f"unknown OAuth scope {scope!r}")
        return (
            f"{self.open_base}/connect/oauth2/authorize?appid={quote(self.appid, safe='')}"
            f"&redirect_uri={quote(redirect_uri, safe='')}&response_type=code"
            f"&scope={scope}&state={quote(state, safe='')}#wechat_redirect"
        )

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return await request_json(
            self._http or http_client(),
            "GET",
            self.api_base + path,
            endpoint=path,
            params=params,
            timeout=self._timeout,
        )

    async def exchange_code(self, code: str) -> OAuthToken:
        """Trade the single-use code (5 minutes) for the openid; OAuthCodeError when used or expired."""
        data = await self._get(
            "/sns/oauth2/access_token",
            {"appid": self.appid, "secret": self._secret, "code": code, "grant_type": "authorization_code"},
        )
        return OAuthToken(
            openid=str(data["openid"]),
            scope=str(data.get("scope", "")),
            access_token=str(data.get("access_token", "")),
            expires_in=int(data.get("expires_in", 7200)),
            refresh_token=str(data.get("refresh_token", "")),
            unionid=data.get("unionid"),
            is_snapshotuser=bool(data.get("is_snapshotuser", 0)),
        )

    async def userinfo(self, token: OAuthToken, lang: str = "zh_CN") -> UserInfo:
        """Nickname and avatar (needs scope snsapi_userinfo)."""
        data = await self._get(
            "/sns/userinfo", {"access_token": token.access_token, "openid": token.openid, "lang": lang}
        )
        return UserInfo(
            openid=str(data["openid"]),
            nickname=str(data.get("nickname", "")),
            headimgurl=str(data.get("headimgurl", "")),
            sex=int(data.get("sex", 0) or 0),
            province=str(data.get("province", "")),
            city=str(data.get("city", "")),
            country=str(data.get("country", "")),
            unionid=data.get("unionid"),
        )
