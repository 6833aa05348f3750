"""WeCom (企业微信) app client for staff notifications: gettoken and message/send (textcard, text)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import httpx

from core.settings import Settings, get_settings
from wechat.official_base import DEFAULT_TIMEOUT, SharedToken, call_with_token, http_client, request_json


@dataclass(frozen=True)
class WeComSendResult:
    msgid: str
    invalid_users: list[str]  # userids WeCom did not deliver to (unknown or out of the app's range)


class WeComApp:
    """One WeCom self-built app (corpid + its secret + agentid). The token lives in Redis for all processes."""

    def __init__(
        self,
        corpid: str,
        secret: str,
        agentid: str | int,
        *,
        api_base: str,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    ) -> None:
        self.corpid = corpid
        self._secret = secret
        self.agentid = int(agentid)
        self.api_base = api_base.rstrip("/")
        self._http = http
        self._timeout = timeout
        base = hashlib.sha1(self.api_base.encode()).hexdigest()[:8]  # noqa: S324 - a cache key
        # One token per app: WeCom issues them per (corpid, secret), so the agentid names it.
        self._token = SharedToken(f"wecom:{corpid}:{self.agentid}:{base}:access_token", self._fetch_token)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> WeComApp:
        s = settings or get_settings()
        return cls(s.wecom_corpid, s.wecom_secret, s.wecom_agentid, api_base=s.wecom_api, **kwargs)

    def __repr__(self) -> str:
        return f"WeComApp(corpid={self.corpid!r}, agentid={self.agentid})"

    async def _raw(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        return await request_json(
            self._http or http_client(),
            method,
            self.api_base + path,
            endpoint=path,
            params=params,
            body=body,
            timeout=self._timeout,
        )

    async def _fetch_token(self) -> tuple[str, int]:
        data = await self._raw("GET", "/cgi-bin/gettoken", params={"corpid": self.corpid, "corpsecret": self._secret})
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def access_token(self) -> str:
        return await self._token.get()

    async def call(self, method: str, path: str, *, body: Any = None) -> dict[str, Any]:
        async def send(token: str) -> dict[str, Any]:
            return await self._raw(method, path, params={"access_token": token}, body=body)

        return await call_with_token(self._token, send)

    async def send(self, touser: str | list[str], msgtype: str, content: dict[str, Any]) -> WeComSendResult:
        users = touser if isinstance(touser, str) else "|".join(touser)
        body = {"touser": users, "msgtype": msgtype, "agentid": self.agentid, msgtype: content}
        data = await self.call("POST", "/cgi-bin/message/send", body=body)
        invalid = [u for u in str(data.get("invaliduser") or "").split("|") if u]
        return WeComSendResult(msgid=str(data.get("msgid", "")), invalid_users=invalid)

    async def send_textcard(
        self, touser: str | list[str], title: str, description: str, url: str, btntxt: str = "详情"
    ) -> WeComSendResult:
        """A card with a title, an HTML-ish description (<div class="highlight">…) and a link button."""
        card = {"title": title, "description": description, "url": url, "btntxt": btntxt}
        return await self.send(touser, "textcard", card)

    async def send_text(self, touser: str | list[str], content: str) -> WeComSendResult:
        return await self.send(touser, "text", {"content": content})
