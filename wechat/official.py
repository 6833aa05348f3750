"""Official-account API client (async httpx): token, menu, QR codes, template/custom/mass messages, tags, JS ticket."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from core.settings import Settings, get_settings
from wechat.errors import WeChatTransportError
from wechat.official_base import (
    DEFAULT_TIMEOUT,
    SharedToken,
    call_with_token,
    http_client,
    request_json,
)

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
QR_TEMPORARY_MAX_SECONDS = 2_592_000  # 30 days, WeChat's limit for temporary QR codes


@dataclass(frozen=True)
class QRCodeTicket:
    ticket: str
    url: str  # the content encoded in the QR image
    expire_seconds: int | None  # None for permanent codes
    image_url: str  # showqrcode URL of the PNG


def _cache_key(kind: str, appid: str, api_base: str) -> str:
    # The base URL is part of the key so sandbox and real tokens for the same appid never mix.
    base = hashlib.sha1(api_base.encode()).hexdigest()[:8]  # noqa: S324 - a cache key, not security
    return f"wechat:oa:{appid}:{base}:{kind}"


def template_data(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Accept {"key": "value"} or {"key": {"value": …, "color": …}} and give WeChat the second form."""
    return {k: (v if isinstance(v, dict) else {"value": str(v)}) for k, v in data.items()}


class OfficialAccount:
    """One official account's API client. Build it per use; the token it needs lives in Redis."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        api_base: str,
        mp_base: str,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    ) -> None:
        self.appid = appid
        self._secret = secret
        self.api_base = api_base.rstrip("/")
        self.mp_base = mp_base.rstrip("/")
        self._http = http
        self._timeout = timeout
        self._token = SharedToken(_cache_key("access_token", appid, self.api_base), self._fetch_access_token)
        self._ticket = SharedToken(_cache_key("jsapi_ticket", appid, self.api_base), self._fetch_jsapi_ticket)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> OfficialAccount:
        s = settings or get_settings()
        return cls(s.wechat_appid, s.wechat_secret, api_base=s.wechat_api, mp_base=s.wechat_mp, **kwargs)

    def __repr__(self) -> str:
        return f"OfficialAccount(appid={self.appid!r}, api_base={self.api_base!r})"

    # --- transport -----------------------------------------------------------------------------------

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

    async def call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        """An authenticated call: the shared access token, refreshed and retried once on a token errcode."""

        async def send(token: str) -> dict[str, Any]:
            return await self._raw(method, path, params={**(params or {}), "access_token": token}, body=body)

        return await call_with_token(self._token, send)

    async def _fetch_access_token(self) -> tuple[str, int]:
        # stable_token in normal mode: every process may ask and gets the same token, so a refresh
        # elsewhere never invalidates ours (unlike /cgi-bin/token).
        data = await self._raw(
            "POST",
            "/cgi-bin/stable_token",
            body={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self._secret,
                "force_refresh": False,
            },
        )
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def _fetch_jsapi_ticket(self) -> tuple[str, int]:
        data = await self.call("GET", "/cgi-bin/ticket/getticket", params={"type": "jsapi"})
        return str(data["ticket"]), int(data.get("expires_in", 7200))

    async def access_token(self) -> str:
        return await self._token.get()

    async def jsapi_ticket(self) -> str:
        return await self._ticket.get()

    # --- custom menu ---------------------------------------------------------------------------------

    async def create_menu(self, menu: dict[str, Any]) -> None:
        """`menu` is {"button": [...]}: ≤ 3 buttons of ≤ 5 sub-buttons, types click/view/miniprogram."""
        buttons = menu.get("button") or []
        if len(buttons) > MAX_BUTTONS or any(len(b.get("sub_button") or []) > MAX_SUB_BUTTONS for b in buttons):
            raise ValueError("a menu has at most 3 buttons with at most 5 sub-buttons each")
        await self.call("POST", "/cgi-bin/menu/create", body=menu)

    async def get_menu(self) -> dict[str, Any]:
        """{"menu": {"button": [...]}} as WeChat returns it (errcode 46003 when there is none)."""
        return await self.call("GET", "/cgi-bin/menu/get")

    async def delete_menu(self) -> None:
        await self.call("GET", "/cgi-bin/menu/delete")

    # --- parametric QR codes -------------------------------------------------------------------------

    async def create_qrcode(
        self, scene: str | int, *, permanent: bool = False, expire_seconds: int = QR_TEMPORARY_MAX_SECONDS
    ) -> QRCodeTicket:
        """A QR code whose scan sends `scene` back in the subscribe/SCAN event (str ≤ 64 chars or int)."""
        if isinstance(scene, str):
            if not 1 <= len(scene) <= 64:
                raise ValueError("scene_str must be 1 to 64 characters")
            action = "QR_LIMIT_STR_SCENE" if permanent else "QR_STR_SCENE"
            info: dict[str, Any] = {"scene": {"scene_str": scene}}
        else:
            action = "QR_LIMIT_SCENE" if permanent else "QR_SCENE"
            info = {"scene": {"scene_id": int(scene)}}
        body: dict[str, Any] = {"action_name": action, "action_info": info}
        if not permanent:
            body["expire_seconds"] = min(int(expire_seconds), QR_TEMPORARY_MAX_SECONDS)
        data = await self.call("POST", "/cgi-bin/qrcode/create", body=body)
        ticket = str(data["ticket"])
        expires = data.get("expire_seconds")
        return QRCodeTicket(
            ticket=ticket,
            url=str(data.get("url", "")),
            expire_seconds=int(expires) if expires is not None else None,
            image_url=self.qrcode_image_url(ticket),
        )

    def qrcode_image_url(self, ticket: str) -> str:
        return f"{self.mp_base}/cgi-bin/showqrcode?ticket={quote(ticket, safe='')}"

    async def fetch_qrcode_png(self, ticket: str) -> bytes:
        """The QR image (showqrcode needs no token: the ticket is the credential)."""
        http = self._http or http_client()
        try:
            resp = await http.get(self.qrcode_image_url(ticket), timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise WeChatTransportError(
                f"showqrcode failed ({type(exc).__name__})", endpoint="/cgi-bin/showqrcode"
            ) from None
        if resp.status_code != 200 or not resp.headers.get("content-type", "").startswith("image/"):
            raise WeChatTransportError(f"showqrcode answered HTTP {resp.status_code}", endpoint="/cgi-bin/showqrcode")
        return resp.content

    # --- messages ------------------------------------------------------------------------------------

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, Any],
        *,
        url: str | None = None,
        miniprogram: dict[str, str] | None = None,
        client_msg_id: str | None = None,
    ) -> int:
        """Send a template message; returns WeChat's msgid. `client_msg_id` makes a retry idempotent."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": template_data(data)}
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = miniprogram
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        result = await self.call("POST", "/cgi-bin/message/template/send", body=body)
        return int(result.get("msgid", 0))

    async def send_custom(self, openid: str, msgtype: str, content: dict[str, Any]) -> None:
        """A customer-service message (only within 48 h of the user's last interaction: else 45015)."""
        await self.call(
            "POST", "/cgi-bin/message/custom/send", body={"touser": openid, "msgtype": msgtype, msgtype: content}
        )

    async def send_text(self, openid: str, content: str) -> None:
        await self.send_custom(openid, "text", {"content": content})

    async def send_news(self, openid: str, title: str, description: str, url: str, picurl: str = "") -> None:
        article = {"title": title, "description": description, "url": url, "picurl": picurl}
        await self.send_custom(openid, "news", {"articles": [article]})

    async def send_mass_text(self, content: str, *, tag_id: int | None = None) -> int:
        """Mass-send text to a tag (or to all followers); quota-limited by WeChat. Returns msg_id."""
        filt: dict[str, Any] = {"is_to_all": tag_id is None}
        if tag_id is not None:
            filt["tag_id"] = tag_id
        body = {"filter": filt, "msgtype": "text", "text": {"content": content}}
        result = await self.call("POST", "/cgi-bin/message/mass/sendall", body=body)
        return int(result.get("msg_id", 0))

    # --- tags ----------------------------------------------------------------------------------------

    async def create_tag(self, name: str) -> int:
        result = await self.call("POST", "/cgi-bin/tags/create", body={"tag": {"name": name}})
        return int(result["tag"]["id"])

    async def get_tags(self) -> list[dict[str, Any]]:
        result = await self.call("GET", "/cgi-bin/tags/get")
        return list(result.get("tags", []))

    async def update_tag(self, tag_id: int, name: str) -> None:
        await self.call("POST", "/cgi-bin/tags/update", body={"tag": {"id": tag_id, "name": name}})

    async def delete_tag(self, tag_id: int) -> None:
        await self.call("POST", "/cgi-bin/tags/delete", body={"tag": {"id": tag_id}})

    async def tag_users(self, tag_id: int, openids: list[str]) -> None:
        """Tag up to 50 users at once."""
        await self.call("POST", "/cgi-bin/tags/members/batchtagging", body={"openid_list": openids, "tagid": tag_id})

    async def untag_users(self, tag_id: int, openids: list[str]) -> None:
        await self.call("POST", "/cgi-bin/tags/members/batchuntagging", body={"openid_list": openids, "tagid": tag_id})

    async def user_tags(self, openid: str) -> list[int]:
        result = await self.call("POST", "/cgi-bin/tags/getidlist", body={"openid": openid})
        return [int(t) for t in result.get("tagid_list", [])]

    async def tag_members(self, tag_id: int, next_openid: str = "") -> tuple[list[str], str]:
        """One page of a tag's followers and the cursor for the next page ('' when done)."""
        result = await self.call("POST", "/cgi-bin/user/tag/get", body={"tagid": tag_id, "next_openid": next_openid})
        openids = list((result.get("data") or {}).get("openid", []))
        return openids, str(result.get("next_openid") or "")
