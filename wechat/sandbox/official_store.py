"""Sandbox records shared by the official-account, OAuth, WeCom and phone simulators: accounts, knobs, tokens, users."""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from litestar import Request, Response
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.settings import get_settings
from wechat.sandbox.official_models import OaAccount, OaCredential, OaCredentialFetch, OaKnob, OaUser

DEFAULT_KNOBS: dict[str, int] = {
    "access_token": 7200,
    "jsapi_ticket": 7200,
    "wecom_token": 7200,
    "sns_token": 7200,
    "oauth_code": 300,
}

NICKNAMES = ["小明", "阿华", "王姐", "李老师", "小美", "陈伯", "赵同学", "周阿姨", "吴师傅", "郑小妹"]
CITIES = ["上海", "杭州", "南京", "苏州", "广州", "深圳", "成都", "武汉"]

_ALNUM = string.ascii_letters + string.digits


class SandboxError(Exception):
    """A request the sandbox refuses as WeChat would: an errcode and errmsg, HTTP 200."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class ApiProblem(Exception):
    """A refusal of the sandbox's own test API (JSON error with an HTTP status)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def wechat_json(data: dict[str, Any]) -> Response[bytes]:
    """JSON as WeChat sends it: UTF-8, Chinese unescaped, always HTTP 200."""
    body = json.dumps(data, ensure_ascii=False).encode()
    return Response(body, status_code=200, media_type="application/json; encoding=utf-8")


def wechat_error(errcode: int, errmsg: str) -> Response[bytes]:
    return wechat_json({"errcode": errcode, "errmsg": errmsg})


def api_problem(status_code: int, detail: str) -> Response[dict[str, Any]]:
    return Response({"status_code": status_code, "detail": detail, "extra": None}, status_code=status_code)


async def json_body(request: Request) -> dict[str, Any]:
    """WeChat's endpoints take JSON bodies; anything else is errcode 47001 (data format error)."""
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise SandboxError(47001, "data format error") from None
    if not isinstance(data, dict):
        raise SandboxError(47001, "data format error")
    return data


def mount_prefix(request: Request, suffix: str) -> str:
    """The absolute URL where this sandbox is mounted (`…/sandbox` in the dev app, the root standalone)."""
    path = request.url.path
    prefix = path[: -len(suffix)] if suffix and path.endswith(suffix) else ""
    return str(request.base_url).rstrip("/") + prefix


def random_string(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_openid() -> str:
    # Real openids: 28 characters, starting with "o".
    return "o" + random_string(27, _ALNUM + "-_")


def original_id(appid: str) -> str:
    """The account's gh_ id (ToUserName of every message it receives)."""
    return "gh_" + hashlib.sha1(appid.encode()).hexdigest()[:12]  # noqa: S324 - an id, not security


def ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


# --- accounts ---------------------------------------------------------------------------------------------


async def ensure_settings_account(session: AsyncSession) -> OaAccount:
    """The account named by the settings exists, with the settings' secrets (settings win)."""
    s = get_settings()
    account = await session.get(OaAccount, s.wechat_appid)
    if account is None:
        # Concurrent first requests race to create it: the loser's insert does nothing.
        await session.execute(
            insert(OaAccount)
            .values(
                appid=s.wechat_appid,
                secret=s.wechat_secret,
                token=s.wechat_token,
                aes_key=s.wechat_aes_key,
                original_id=original_id(s.wechat_appid),
                name="沙箱公众号",
                created_at=clock.now(),
            )
            .on_conflict_do_nothing(index_elements=[OaAccount.appid])
        )
        account = await session.get(OaAccount, s.wechat_appid)
        assert account is not None
    if (account.secret, account.token, account.aes_key) != (s.wechat_secret, s.wechat_token, s.wechat_aes_key):
        account.secret, account.token, account.aes_key = s.wechat_secret, s.wechat_token, s.wechat_aes_key
        await session.flush()
    return account


async def get_account(session: AsyncSession, appid: str | None) -> OaAccount | None:
    if not appid or appid == get_settings().wechat_appid:
        return await ensure_settings_account(session)
    return await session.get(OaAccount, appid)


def message_url(account: OaAccount) -> str:
    return account.message_url or (get_settings().base_url + "/wechat/message")


# --- knobs ------------------------------------------------------------------------------------------------


async def knob(session: AsyncSession, name: str) -> int:
    value = await session.scalar(select(OaKnob.value).where(OaKnob.name == name))
    return int(value) if value is not None else DEFAULT_KNOBS[name]


async def set_knob(session: AsyncSession, name: str, value: int) -> None:
    stmt = insert(OaKnob).values(name=name, value=value)
    await session.execute(stmt.on_conflict_do_update(index_elements=[OaKnob.name], set_={"value": value}))


# --- credentials ------------------------------------------------------------------------------------------


async def _lock(session: AsyncSession, key: str) -> None:
    # Serialise issuing per owner inside the transaction, as WeChat serialises per appid.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


def new_credential_value(kind: str) -> str:
    length = {"access_token": 136, "jsapi_ticket": 86, "wecom_token": 64, "sns_token": 89}.get(kind, 64)
    return random_string(length, _ALNUM + "-_")


async def issue_credential(
    session: AsyncSession,
    kind: str,
    owner: str,
    *,
    reuse: bool,
    revoke_others: bool = False,
    openid: str | None = None,
    scope: str | None = None,
) -> tuple[OaCredential, bool]:
    """The current credential of (kind, owner) or a new one; every call is logged as a fetch.

    `reuse`: like stable_token's normal mode, return the current one unless it is in its last stretch
    (5 minutes, or a tenth of a short test TTL), when a new one is issued and both stay valid.
    `revoke_others`: like /cgi-bin/token or force_refresh, a new one invalidates the previous ones.
    """
    now = clock.now()
    ttl = await knob(session, kind)
    await _lock(session, f"sandbox-cred:{kind}:{owner}")
    current = None
    if reuse:
        current = await session.scalar(
            select(OaCredential)
            .where(
                OaCredential.kind == kind,
                OaCredential.owner == owner,
                OaCredential.revoked_at.is_(None),
                OaCredential.expires_at > now,
            )
            .order_by(OaCredential.expires_at.desc())
            .limit(1)
        )
        window = timedelta(seconds=min(300, ttl // 10))
        if current is not None and current.expires_at - now <= window:
            current = None
    issued = current is None
    if current is None:
        if revoke_others:
            await session.execute(
                update(OaCredential)
                .where(OaCredential.kind == kind, OaCredential.owner == owner, OaCredential.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        current = OaCredential(
            kind=kind,
            owner=owner,
            value=new_credential_value(kind),
            openid=openid,
            scope=scope,
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
        session.add(current)
        await session.flush()
    session.add(OaCredentialFetch(kind=kind, owner=owner, credential_id=current.id, issued=issued, at=now))
    await session.flush()
    return current, issued


def expires_in(cred: OaCredential) -> int:
    return max(0, int((cred.expires_at - clock.now()).total_seconds()))


async def check_credential(
    session: AsyncSession, kind: str, value: str | None, *, unknown_errcode: int = 40001
) -> OaCredential:
    """The credential behind `value`, or WeChat's errcode for a missing, invalid or expired one.

    An unknown token is 40001 on the official account and 40014 on WeCom (where 40001 means a bad secret).
    """
    if not value:
        raise SandboxError(41001, "access_token missing")
    if len(value) > 256 or any(c not in _ALNUM + "-_" for c in value):
        raise SandboxError(40014, "invalid access_token")
    cred = await session.scalar(select(OaCredential).where(OaCredential.value == value, OaCredential.kind == kind))
    if cred is None or cred.revoked_at is not None:
        if unknown_errcode == 40014:
            raise SandboxError(40014, "invalid access_token")
        raise SandboxError(40001, "invalid credential, access_token is invalid or not latest")
    if cred.expires_at <= clock.now():
        raise SandboxError(42001, "access_token expired")
    return cred


async def expire_credentials(session: AsyncSession, kind: str, owner: str | None = None) -> int:
    """Make every current credential of `kind` expire now (tests force a refresh this way)."""
    now = clock.now()
    stmt = (
        update(OaCredential)
        .where(OaCredential.kind == kind, OaCredential.expires_at > now, OaCredential.revoked_at.is_(None))
        .values(expires_at=now)
    )
    if owner:
        stmt = stmt.where(OaCredential.owner == owner)
    result = await session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def count_fetches(session: AsyncSession, kind: str, owner: str | None = None) -> int:
    stmt = select(func.count()).select_from(OaCredentialFetch).where(OaCredentialFetch.kind == kind)
    if owner:
        stmt = stmt.where(OaCredentialFetch.owner == owner)
    return int(await session.scalar(stmt) or 0)


# --- users ------------------------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    appid: str,
    *,
    nickname: str | None = None,
    openid: str | None = None,
    sex: int | None = None,
    city: str | None = None,
) -> OaUser:
    openid = openid or new_openid()
    if await get_user(session, appid, openid) is not None:
        raise ApiProblem(409, f"user {openid} already exists")
    user = OaUser(
        appid=appid,
        openid=openid,
        unionid="u" + hashlib.sha1(openid.encode()).hexdigest()[:27],  # noqa: S324 - an id
        nickname=(nickname or secrets.choice(NICKNAMES))[:64],
        sex=sex if sex in (0, 1, 2) else secrets.choice([1, 2]),
        city=city or secrets.choice(CITIES),
        following=False,
        created_at=clock.now(),
    )
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, appid: str, openid: str) -> OaUser | None:
    return await session.scalar(select(OaUser).where(OaUser.appid == appid, OaUser.openid == openid))


def user_json(user: OaUser) -> dict[str, Any]:
    return {
        "appid": user.appid,
        "openid": user.openid,
        "unionid": user.unionid,
        "nickname": user.nickname,
        "sex": user.sex,
        "city": user.city,
        "following": user.following,
        "subscribe_scene": user.subscribe_scene,
        "subscribed_at": ts(user.subscribed_at),
        "last_interaction_at": ts(user.last_interaction_at),
        "created_at": ts(user.created_at),
    }


_templates: jinja2.Environment | None = None


def render(template: str, **context: Any) -> Response[str]:
    """An HTML page of the sandbox (its own Jinja environment: the app's template engine is not assumed)."""
    global _templates
    if _templates is None:
        _templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=True,
        )
    html = _templates.get_template(template).render(**context)
    return Response(html, media_type="text/html; charset=utf-8", status_code=context.get("status_code", 200))


def avatar_color(openid: str) -> str:
    return "#" + hashlib.sha1(openid.encode()).hexdigest()[:6]  # noqa: S324 - a colour
