"""Customer-facing routes: WeChat H5 sign-in, the customer's profile and addresses, the JS-SDK config."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Redirect

from core.auth import COOKIE, TOKEN_TTL, customer_guard, require_principal
from core.db import DbSession
from core.errors import InvalidInput, ServiceUnavailable
from core.settings import get_settings
from shop.customers.schemas import AddressIn, AddressOut, AddressPatch, CustomerOut, JsConfigOut, ProfilePatch
from shop.customers.services import (
    add_address,
    delete_address,
    get_account,
    get_address,
    get_customer,
    list_addresses,
    update_address,
    update_profile,
)
from shop.customers.sign_in import (
    STATE_COOKIE,
    STATE_COOKIE_PATH,
    STATE_TTL_SECONDS,
    finish_sign_in,
    start_sign_in,
)
from shop.stores.schemas import changes_of
from shop.strict import strict_body
from wechat.errors import WeChatAPIError, WeChatTransportError
from wechat.jssdk import js_config
from wechat.official import OfficialAccount

Req = Request[Any, Any, Any]
JS_APIS = ["getLocation", "openLocation", "chooseWXPay", "scanQRCode", "updateAppMessageShareData"]


def _secure() -> bool:
    return get_settings().base_url.startswith("https://")


class WeChatSignInController(Controller):
    path = "/auth/wechat"
    tags = ["customer sign-in"]
    include_in_schema = True

    @get("/", summary="Start WeChat sign-in: redirects to WeChat's OAuth page", status_code=302)
    async def start(
        self,
        db_session: DbSession,
        next: Annotated[str | None, QueryParameter(name="next", max_length=500)] = None,
        oauth_scope: Annotated[str | None, QueryParameter(name="scope", max_length=32)] = None,
        appid: FromQuery[str | None] = None,
    ) -> Redirect:
        begun = await start_sign_in(db_session, next_path=next, scope=oauth_scope, appid=appid)
        response = Redirect(begun.authorize_url, status_code=302)
        response.set_cookie(
            STATE_COOKIE,
            begun.cookie_value,
            path=STATE_COOKIE_PATH,
            max_age=STATE_TTL_SECONDS,
            httponly=True,
            samesite="lax",
            secure=_secure(),
        )
        return response

    @get("/callback", summary="WeChat comes back here with the code and state", status_code=302)
    async def callback(
        self,
        request: Req,
        db_session: DbSession,
        code: Annotated[str | None, QueryParameter(name="code", max_length=512)] = None,
        oauth_state: Annotated[str | None, QueryParameter(name="state", max_length=128)] = None,
    ) -> Redirect:
        cookie = request.cookies.get(STATE_COOKIE)
        signed = await finish_sign_in(db_session, cookie=cookie, state=oauth_state, code=code)
        response = Redirect(signed.next_path, status_code=302)
        response.set_cookie(
            COOKIE,
            signed.token,
            path="/",
            max_age=int(TOKEN_TTL.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=_secure(),
        )
        response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)  # a state is good for one callback
        return response


class CustomerController(Controller):
    path = "/api/customer"
    tags = ["customer"]
    guards = [customer_guard]

    @get("/me", summary="The signed-in customer")
    async def me(self, request: Req, db_session: DbSession) -> CustomerOut:
        return CustomerOut.of(await get_customer(db_session, require_principal(request).id))

    @patch("/me", summary="Change nickname or phone")
    async def change_me(self, request: Req, db_session: DbSession, data: JSONBody[ProfilePatch]) -> CustomerOut:
        data = await strict_body(request, data)
        return CustomerOut.of(await update_profile(db_session, require_principal(request).id, changes_of(data)))

    @get("/addresses", summary="My delivery addresses (default first)")
    async def addresses(self, request: Req, db_session: DbSession) -> list[AddressOut]:
        return [AddressOut.of(a) for a in await list_addresses(db_session, require_principal(request).id)]

    @post("/addresses", summary="Add an address (coordinates from WeChat getLocation or a map pick)")
    async def add(self, request: Req, db_session: DbSession, data: JSONBody[AddressIn]) -> AddressOut:
        data = await strict_body(request, data)
        return AddressOut.of(await add_address(db_session, require_principal(request).id, changes_of(data)))

    @get("/addresses/{address_id:int}", summary="One of my addresses")
    async def address(self, request: Req, db_session: DbSession, address_id: FromPath[int]) -> AddressOut:
        return AddressOut.of(await get_address(db_session, require_principal(request).id, address_id))

    @patch("/addresses/{address_id:int}", summary="Change one of my addresses")
    async def change(
        self, request: Req, db_session: DbSession, address_id: FromPath[int], data: JSONBody[AddressPatch]
    ) -> AddressOut:
        data = await strict_body(request, data)
        return AddressOut.of(
            await update_address(db_session, require_principal(request).id, address_id, changes_of(data))
        )

    @delete("/addresses/{address_id:int}", summary="Delete one of my addresses", status_code=204)
    async def remove(self, request: Req, db_session: DbSession, address_id: FromPath[int]) -> None:
        await delete_address(db_session, require_principal(request).id, address_id)


class JsSdkController(Controller):
    path = "/api/wechat"
    tags = ["customer"]

    @get("/jssdk-config", summary="wx.config for one of our pages (getLocation, pay, scan)")
    async def jssdk_config(
        self,
        db_session: DbSession,
        url: Annotated[str, QueryParameter(max_length=1000)],
        appid: FromQuery[str | None] = None,
    ) -> Response[JsConfigOut]:
        base = get_settings().base_url
        if not (url == base or url.startswith(base + "/") or url.startswith(base + "?") or url.startswith(base + "#")):
            raise InvalidInput(f"url must be a page of this site ({base}/…)")
        account = await get_account(db_session, appid)
        s = get_settings()
        client = OfficialAccount(account.appid, account.secret, api_base=s.wechat_api, mp_base=s.wechat_mp)
        try:
            config = await js_config(client, url, js_api_list=JS_APIS)
        except (WeChatAPIError, WeChatTransportError) as exc:
            raise ServiceUnavailable(f"WeChat did not give a JS-SDK ticket ({type(exc).__name__}); try again") from None
        return Response(JsConfigOut(**config), headers={"Cache-Control": "no-store"})
