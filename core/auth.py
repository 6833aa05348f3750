"""Auth: session tokens (cookie for pages, bearer for the API), the principal on each request, role guards."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody
from litestar.types import ASGIApp, Receive, Scope, Send

from core import clock
from core.db import DbSession
from core.errors import Forbidden, NotAuthenticated
from core.settings import get_settings
from core.users import authenticate

COOKIE = "o2o_session"
TOKEN_TTL = timedelta(hours=12)


@dataclass
class Principal:
    """Who is calling: a user (staff/finance/admin) or a customer (WeChat sign-in)."""

    kind: str  # "user" | "customer"
    id: int
    role: str  # staff|finance|admin for users, "customer" for customers
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    @property
    def is_customer(self) -> bool:
        return self.kind == "customer"


def issue_token(kind: str, subject_id: int, role: str, ttl: timedelta = TOKEN_TTL, **claims: Any) -> str:
    now = clock.now()
    payload = {
        "sub": f"{kind}:{subject_id}",
        "role": role,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        **claims,
    }
    return jwt.encode(payload, get_settings().secret_key, algorithm="HS256")


# Verified payloads by (secret, token): a client sends the same token on every request, and checking its
# signature again (PyJWT: ~35 µs, 3 % of placing an order) proves nothing new. Expiry is still checked on each
# request. Bounded: emptied when full, so an attacker sending many tokens costs only re-verification.
_VERIFIED: dict[tuple[str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 10_000


def _verified_payload(token: str) -> dict[str, Any]:
    secret = get_settings().secret_key
    data = _VERIFIED.get((secret, token))
    if data is None:
        data = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            # Times are checked against core.clock below (tests move it), not PyJWT's real clock.
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[(secret, token)] = data
    return data


def decode_token(token: str) -> Principal | None:
    try:
        data = _verified_payload(token)
        if int(data.get("exp", 0)) < clock.now().timestamp():
            return None
        kind, _, raw_id = str(data["sub"]).partition(":")
        return Principal(kind=kind, id=int(raw_id), role=str(data["role"]), claims=dict(data))
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        return None


def _token_from_scope(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
        elif name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == COOKIE and v:
                    return v
    return None


class AuthMiddleware:
    """Sets scope['user'] to a Principal or None; guards decide. Public routes need nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            token = _token_from_scope(scope)
            scope["user"] = decode_token(token) if token else None  # type: ignore[typeddict-unknown-key]
        await self.app(scope, receive, send)


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    return connection.scope.get("user")  # type: ignore[return-value]


def require_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    p = current_principal(connection)
    if p is None:
        raise NotAuthenticated("sign in first")
    return p


def roles_guard(*roles: str):
    """Guard: the caller is a user with one of these roles (admin passes every user guard)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        p = require_principal(connection)
        if not p.is_user or (p.role not in roles and p.role != "admin"):
            raise Forbidden(f"this needs the role {' or '.join(roles)}")

    guard.__name__ = f"roles_guard_{'_'.join(roles)}"
    return guard


# Guards are coroutines: Litestar runs a plain function guard in a worker thread (a thread hop per request).
async def customer_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    p = require_principal(connection)
    if not p.is_customer:
        raise Forbidden("this is for signed-in customers")


async def user_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    p = require_principal(connection)
    if not p.is_user:
        raise Forbidden("this is for staff, finance and admin users")


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    return require_principal(request)


class LoginIn(msgspec.Struct):
    username: str
    password: str


class UserOut(msgspec.Struct):
    id: int
    username: str
    role: str
    display_name: str


class LoginOut(msgspec.Struct):
    token: str
    user: UserOut


def session_cookie(token: str | None) -> dict[str, Any]:
    secure = get_settings().base_url.startswith("https://")
    return {
        "key": COOKIE,
        "value": token or "",
        "httponly": True,
        "samesite": "lax",
        "secure": secure,
        "path": "/",
        "max_age": int(TOKEN_TTL.total_seconds()) if token else 0,
    }


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post("/login", status_code=200, summary="Sign in (staff, finance, admin)")
    async def login(self, data: JSONBody[LoginIn], db_session: DbSession) -> Response[LoginOut]:
        user = await authenticate(db_session, data.username, data.password)
        token = issue_token("user", user.id, user.role)
        body = LoginOut(token=token, user=UserOut(user.id, user.username, user.role, user.display_name))
        response = Response(body)
        response.set_cookie(**session_cookie(token))
        return response

    @post("/logout", status_code=200, summary="Sign out")
    async def logout(self) -> Response[dict[str, str]]:
        response = Response({"status": "signed out"})
        response.set_cookie(**session_cookie(None))
        return response

    @get("/me", summary="Who am I", guards=[user_guard])
    async def me(self, request: Request[Any, Any, Any], db_session: DbSession) -> UserOut:
        from core.users import get_user

        p = require_principal(request)
        user = await get_user(db_session, p.id)
        if user is None or not user.active:
            raise NotAuthenticated("this account no longer exists; sign in again")
        return UserOut(user.id, user.username, user.role, user.display_name)
