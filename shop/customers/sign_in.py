"""Customer H5 sign-in by WeChat OAuth: the state bound to the browser, the single-use code, the session.

/auth/wechat sets a short-lived cookie holding a fresh `state` (with the account, scope and the page to
return to) and redirects to WeChat's authorize page; the callback refuses a state that is not the one
in this browser's cookie, exchanges the code (WeChat refuses a used or expired one), finds or creates
the customer for (account, openid) and starts the customer session.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import issue_token
from core.errors import Forbidden, InvalidInput, ServiceUnavailable
from core.settings import get_settings
from shop.customers.models import Customer
from shop.customers.services import find_or_create_customer, get_account
from wechat.errors import OAuthCodeError, OAuthStateMismatch, WeChatAPIError, WeChatTransportError
from wechat.oauth import SCOPE_BASE, SCOPE_USERINFO, OAuthClient, check_state, new_state

log = structlog.get_logger(__name__)

STATE_COOKIE = "o2o_oauth_state"
STATE_COOKIE_PATH = "/auth/wechat"
STATE_TTL_SECONDS = 600
CALLBACK_PATH = "/auth/wechat/callback"


def safe_next(next_path: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//") or "\\" in next_path:
        return "/"
    if any(c in next_path for c in "\r\n\t"):
        return "/"
    return next_path[:500]


def oauth_client(appid: str, secret: str) -> OAuthClient:
    s = get_settings()
    return OAuthClient(appid, secret, api_base=s.wechat_api, open_base=s.wechat_open)


@dataclass(frozen=True)
class SignInStart:
    authorize_url: str
    cookie_value: str


@dataclass(frozen=True)
class PendingSignIn:
    state: str
    appid: str
    scope: str
    next_path: str

    def encode(self) -> str:
        return "|".join(quote(x, safe="") for x in (self.state, self.appid, self.scope, self.next_path))

    @classmethod
    def decode(cls, raw: str | None) -> PendingSignIn | None:
        parts = (raw or "").split("|")
        if len(parts) != 4:
            return None
        state, appid, scope, next_path = (unquote(p) for p in parts)
        return cls(state, appid, scope, safe_next(next_path))


async def start_sign_in(
    session: AsyncSession, *, next_path: str | None, scope: str | None, appid: str | None = None
) -> SignInStart:
    scope = scope or SCOPE_BASE
    if scope not in (SCOPE_BASE, SCOPE_USERINFO):
        raise InvalidInput(f"scope must be {SCOPE_BASE} or {SCOPE_USERINFO}")
    account = await get_account(session, appid)
    pending = PendingSignIn(new_state(), account.appid, scope, safe_next(next_path))
    redirect_uri = get_settings().base_url + CALLBACK_PATH
    url = oauth_client(account.appid, account.secret).authorize_url(redirect_uri, pending.state, scope)
    return SignInStart(url, pending.encode())


@dataclass(frozen=True)
class SignedIn:
    customer: Customer
    created: bool
    token: str
    next_path: str


async def finish_sign_in(session: AsyncSession, *, cookie: str | None, state: str | None, code: str | None) -> SignedIn:
    pending = PendingSignIn.decode(cookie)
    try:
        check_state(pending.state if pending else None, state)
    except OAuthStateMismatch:
        log.warning("oauth_state_mismatch", has_cookie=pending is not None)
        raise Forbidden(
            "this sign-in link does not belong to this browser or has expired; open the page again to sign in"
        ) from None
    assert pending is not None
    if not code:
        raise Forbidden("WeChat sign-in was cancelled; open the page again to sign in")
    account = await get_account(session, pending.appid)
    client = oauth_client(account.appid, account.secret)
    try:
        token = await client.exchange_code(code)
    except OAuthCodeError:
        raise InvalidInput(
            "this sign-in code was already used or has expired; open the page again to sign in"
        ) from None
    except WeChatAPIError as exc:
        log.warning("oauth_exchange_refused", errcode=exc.errcode)
        raise InvalidInput(f"WeChat refused the sign-in ({exc.errcode}); open the page again to sign in") from None
    except WeChatTransportError:
        raise ServiceUnavailable("WeChat could not be reached; try again in a moment") from None
    if token.is_snapshotuser:
        raise Forbidden("this is a page preview; open it in WeChat to sign in")
    nickname = avatar = None
    unionid = token.unionid
    if pending.scope == SCOPE_USERINFO and SCOPE_USERINFO in token.scope:
        try:
            info = await client.userinfo(token)
            nickname, avatar, unionid = info.nickname, info.headimgurl, info.unionid or unionid
        except (WeChatAPIError, WeChatTransportError) as exc:
            log.warning("oauth_userinfo_failed", error=type(exc).__name__)  # sign in without the profile
    customer, created = await find_or_create_customer(
        session, account.id, token.openid, unionid=unionid, nickname=nickname, avatar_url=avatar, signed_in=True
    )
    session_token = issue_token("customer", customer.id, "customer", appid=account.appid)
    log.info("customer_signed_in", customer_id=customer.id, created=created)
    return SignedIn(customer, created, session_token, pending.next_path)
