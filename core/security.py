"""Abuse limits and browser protections: rate limits (Redis, failing open), CSRF origin checks, security headers,
request-size limits, and masking of customers' phone numbers for staff views.

Everything here is wired once by `install(app_config)` from core/app.py's CorePlugin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, cast
from urllib.parse import urlsplit

import structlog
from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.middleware.rate_limit import DURATION_VALUES, DurationUnit, RateLimitConfig, RateLimitMiddleware
from litestar.stores.redis import RedisStore
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings, get_settings

log = structlog.get_logger(__name__)

# WeChat calls these (signed by WeChat, retried on failure): never rate-limited, never CSRF-checked.
CALLBACK_PREFIXES = ("/wechat/message", "/payments/wechatpay/", "/sandbox")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_COOKIES = (b"o2o_session",)


# --- phone masking ------------------------------------------------------------------------------------


def mask_phone(phone: str | None) -> str | None:
    """138****1234: enough for staff to confirm a customer, not enough to keep the number."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) < 8:
        return digits[:1] + "*" * (len(digits) - 3) + digits[-2:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


# --- rate limits ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LimitRule:
    """`max_requests` per `per` for requests of `method` whose path matches one of `paths` (fnmatch globs)."""

    name: str
    method: str
    paths: tuple[str, ...]
    max_requests: int
    per: DurationUnit = "minute"

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and any(fnmatchcase(path, p) for p in self.paths)


# The one place to attach a limit to a route (coupon routes: anything under /api/coupons or
# /api/customer/coupons whose path says "claim"). Keyed by the signed-in principal, else by client address.
DEFAULT_RULES: tuple[LimitRule, ...] = (
    LimitRule("login", "POST", ("/api/auth/login",), 10),
    LimitRule("oauth_callback", "GET", ("/auth/wechat/callback",), 30),
    LimitRule("handoff_code", "POST", ("/api/staff/dispatches/*/deliver",), 20),
    LimitRule("offer_claim", "POST", ("/api/staff/offers/*/claim", "/api/staff/dispatches/*/claim"), 60),
    LimitRule("coupon_claim", "POST", ("/api/coupons*claim*", "/api/customer/coupons*claim*"), 20),
)

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")


def limit_rules(settings: Settings | None = None) -> tuple[LimitRule, ...]:
    """The rules in force. O2O_RATE_LIMITS: `on` (defaults), `off`, or overrides `name=N/unit` / `name=off`."""
    spec = (settings or get_settings()).o2o_rate_limits.strip()
    if spec.lower() in ("off", "false", "0", "no"):
        return ()
    rules = {r.name: r for r in DEFAULT_RULES}
    if spec.lower() in ("", "on", "true", "1", "yes"):
        return tuple(rules.values())
    for item in spec.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in rules:
            raise ValueError(f"O2O_RATE_LIMITS: unknown limit {name!r}; known: {', '.join(rules)}")
        if value.strip().lower() == "off":
            del rules[name]
            continue
        m = _SPEC.match(value)
        if m is None:
            raise ValueError(f"O2O_RATE_LIMITS: {item.strip()!r} should look like {name}=10/minute or {name}=off")
        rule = rules[name]
        rules[name] = LimitRule(rule.name, rule.method, rule.paths, int(m[1]), cast(DurationUnit, m[2]))
    return tuple(rules.values())


def _client_key(scope: Scope) -> str:
    user = scope.get("user")
    if user is not None and getattr(user, "id", None) is not None:
        return f"{user.kind}:{user.id}"
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


class RuleRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's rate limiter with one bucket per (rule, caller), and open when the store (Redis) is down.

    A limit protects against abuse; it must never take ordering down with Redis, so a store error lets the
    request through (logged, and the store is not retried for a few seconds so each request stays fast).
    """

    rules: tuple[LimitRule, ...] = ()
    _down_until = 0.0
    RETRY_AFTER_DOWN_S = 5.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = str(scope.get("method", "")), str(scope.get("path", ""))
        rule = next((r for r in self.rules if r.matches(method, path)), None)
        if rule is None or path.startswith(CALLBACK_PREFIXES) or time.monotonic() < type(self)._down_until:
            await self.app(scope, receive, send)
            return
        key = f"{rule.name}:{_client_key(scope)}"
        retry_after: int | None = None
        try:
            store = self.config.get_store_from_app(scope["litestar_app"])
            async with self._lock:
                self.max_requests, self.unit = rule.max_requests, rule.per
                history = await self.retrieve_cached_history(key, store)
                if len(history.history) >= rule.max_requests:
                    retry_after = max(1, history.reset - int(time.time()))
                else:
                    await self.set_cached_history(key=key, cache_object=history, store=store)
        except Exception as exc:  # Redis down or slow: fail open
            type(self)._down_until = time.monotonic() + self.RETRY_AFTER_DOWN_S
            log.warning("rate_limit_store_unavailable", error=type(exc).__name__, limit=rule.name)
        if retry_after is not None:
            log.warning("rate_limited", limit=rule.name, caller=key.split(":", 1)[1])
            detail = f"请求太频繁，请 {retry_after} 秒后再试 (limit {rule.name}: {rule.max_requests} per {rule.per})"
            await _json_response(
                send,
                429,
                detail,
                (
                    (b"retry-after", str(retry_after).encode()),
                    (b"ratelimit-policy", f"{rule.max_requests}; w={DURATION_VALUES[rule.per]}".encode()),
                ),
            )
            return
        await self.app(scope, receive, send)


async def _json_response(send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    body = json.dumps({"status_code": status, "detail": detail, "extra": None}, ensure_ascii=False).encode()
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
    }
    await send(cast(Message, start))
    await send(cast(Message, {"type": "http.response.body", "body": body}))


def rate_limit_store(settings: Settings) -> RedisStore | None:
    if not settings.redis_url:
        return None
    from redis.asyncio import Redis

    # Short timeouts: a slow Redis must cost a limited request little before it fails open.
    client = Redis.from_url(settings.redis_url, socket_connect_timeout=0.25, socket_timeout=0.25)
    return RedisStore(client, namespace="o2o_rate_limit", handle_client_shutdown=True)


# --- CSRF -------------------------------------------------------------------------------------------------


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


class CsrfMiddleware:
    """Refuses unsafe requests authenticated by the session cookie that a browser sent from another site.

    The page JavaScript needs no token: browsers send `Origin` (and `Sec-Fetch-Site`) on every unsafe request,
    and a cross-site page cannot forge them. Bearer-token requests (the API) and WeChat's callbacks are exempt;
    a request with neither header comes from a non-browser client, which cannot be driven by another site.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        s = get_settings()
        self.trusted = {o for o in (_origin(s.base_url), *map(_origin, s.o2o_csrf_trusted_origins.split(","))) if o}

    def _refusal(self, scope: Scope) -> str | None:
        if scope.get("method") not in UNSAFE_METHODS or str(scope.get("path", "")).startswith(CALLBACK_PREFIXES):
            return None
        cookie, bearer = False, False
        for k, v in scope.get("headers", ()):
            if k == b"authorization" and v[:7].lower() == b"bearer ":
                bearer = True
            elif k == b"cookie" and any(c + b"=" in v for c in SESSION_COOKIES):
                cookie = True
        if bearer or not cookie:
            return None
        origin = _header(scope, b"origin")
        if origin is None:
            site = _header(scope, b"sec-fetch-site")
            if site is not None:
                return None if site in ("same-origin", "none") else f"a {site} request"
            referer = _header(scope, b"referer")
            if referer is None:
                return None
            origin = _origin(referer)
        origin = origin.strip().lower()
        host = _header(scope, b"host")
        scheme = str(scope.get("scheme", "http"))
        own = {f"{scheme}://{host}".lower()} if host else set()
        if origin in self.trusted or origin in own:
            return None
        return f"a request from {origin or 'an unknown origin'}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            why = self._refusal(scope)
            if why is not None:
                log.warning("csrf_refused", path=scope.get("path"), why=why)
                await _json_response(
                    send,
                    403,
                    f"refused: {why} may not change anything here with your session "
                    "(open the page on this site and try again)",
                )
                return
        await self.app(scope, receive, send)


# --- security headers ---------------------------------------------------------------------------------------

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
NO_CSP_PREFIXES = ("/schema", "/sandbox")  # the OpenAPI renderer and the dev-only simulator pages


def content_security_policy(html: bytes, settings: Settings) -> str:
    """Our pages: scripts and styles from this site (the vendored assets), the inline bootstraps by hash; in dev
    the sandbox's jsbridge (script, its API calls, the phone page framing the H5 pages) from the sandbox origin."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()}'"
        for m in _INLINE_SCRIPT.finditer(html)
    )
    sandbox = _origin(settings.sandbox_base) if settings.is_dev else ""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {sandbox} {hashes}".replace("  ", " ").strip(),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob: https:" + (f" {sandbox}" if sandbox else ""),
            f"connect-src 'self' {sandbox}".strip(),
            "font-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors 'self' {sandbox}".strip(),
        ]
    )


def _page_headers(html: bytes) -> list[tuple[bytes, bytes]]:
    csp = content_security_policy(html, get_settings())
    return [(b"content-security-policy", csp.encode()), (b"x-frame-options", b"SAMEORIGIN")]


class SecurityHeadersMiddleware:
    """nosniff and a referrer policy on every response; on HTML pages also a CSP and framing limits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        head = scope.get("method") == "HEAD"
        started: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def send_wrapper(event: Message) -> None:
            nonlocal started
            message = cast(dict[str, Any], event)
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"strict-origin-when-cross-origin"),
                ]
                message["headers"] = headers
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html") and not path.startswith(NO_CSP_PREFIXES):
                    if head:  # no body to hash; the page itself is never run from a HEAD answer
                        headers += _page_headers(b"")
                    else:
                        started = message  # held until the body is complete: the CSP hashes its inline scripts
                        return
                await send(event)
                return
            if started is None:
                await send(event)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            html = b"".join(chunks)
            headers = [(k, v) for k, v in started["headers"] if k.lower() != b"content-length"]
            headers += [*_page_headers(html), (b"content-length", str(len(html)).encode())]
            await send(cast(Message, {**started, "headers": headers}))
            await send(cast(Message, {"type": "http.response.body", "body": html, "more_body": False}))

        await self.app(scope, receive, send_wrapper)


# --- wiring -------------------------------------------------------------------------------------------------


def body_too_large(_: Request[Any, Any, Any], __: RequestEntityTooLarge) -> Response[dict[str, Any]]:
    limit = get_settings().o2o_max_body_bytes
    detail = f"请求内容太大：最多 {limit // 1024} KB (request body over {limit} bytes; see O2O_MAX_BODY_BYTES)"
    return Response({"status_code": 413, "detail": detail, "extra": None}, status_code=413)


def install(app_config: AppConfig) -> None:
    """Add the limits and protections to the app (called by CorePlugin)."""
    settings = get_settings()
    app_config.request_max_body_size = settings.o2o_max_body_bytes  # create_app passes it to Litestar too
    app_config.exception_handlers[RequestEntityTooLarge] = body_too_large
    app_config.middleware.extend([SecurityHeadersMiddleware, CsrfMiddleware])
    rules = limit_rules(settings)
    store = rate_limit_store(settings) if rules else None
    if store is None:
        return
    middleware = type("O2ORateLimitMiddleware", (RuleRateLimitMiddleware,), {"rules": rules})
    config = RateLimitConfig(
        rate_limit=("minute", 1),  # per rule, see DEFAULT_RULES
        middleware_class=middleware,
        store="o2o_rate_limit",
        set_rate_limit_headers=False,
    )
    app_config.stores = {**dict(cast(dict[str, Any], app_config.stores or {})), "o2o_rate_limit": store}
    app_config.middleware.append(config.middleware)
