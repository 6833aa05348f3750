"""Abuse limits: rate limits (per caller, Redis, failing open, never on WeChat's callbacks), the request-size
limit, CSRF origin checks on cookie-authenticated writes, security headers on pages, masked phone numbers."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar import Litestar, post
from litestar.stores.memory import MemoryStore

from core.auth import COOKIE, issue_token
from core.db import unit_of_work
from core.security import (
    CALLBACK_PREFIXES,
    DEFAULT_RULES,
    LimitRule,
    RuleRateLimitMiddleware,
    limit_rules,
    mask_phone,
)
from core.settings import get_settings, reset_settings
from tests.integration.orders.factories import make_account, make_customer, staff_user

ORIGIN = os.environ.get("PUBLIC_BASE_URL", "")


@contextlib.contextmanager
def settings_env(**env: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reset_settings()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_settings()


# --- rate limits ---------------------------------------------------------------------------------------


async def test_login_is_limited_per_client_with_a_clear_429(client: httpx.AsyncClient) -> None:
    await staff_user("clerk")
    login = next(r for r in DEFAULT_RULES if r.name == "login")
    for _ in range(login.max_requests):
        r = await client.post("/api/auth/login", json={"username": "clerk", "password": "guess"})
        assert r.status_code == 401, r.text
    r = await client.post("/api/auth/login", json={"username": "clerk", "password": "correct horse"})
    assert r.status_code == 429, r.text
    assert "请求太频繁" in r.json()["detail"] and int(r.headers["retry-after"]) >= 1
    assert "o2o_session" not in r.headers.get("set-cookie", "")


async def test_offer_claims_are_limited_per_staff_member_not_per_address(client: httpx.AsyncClient) -> None:
    _, staff_a = await staff_user("runner.a")
    _, staff_b = await staff_user("runner.b")
    claim = next(r for r in DEFAULT_RULES if r.name == "offer_claim")
    statuses = [
        (await client.post("/api/staff/offers/999999/claim", headers=staff_a)).status_code
        for _ in range(claim.max_requests + 1)
    ]
    assert set(statuses[:-1]) == {404} and statuses[-1] == 429
    # Another staff member on the same address is not held back by the first one.
    assert (await client.post("/api/staff/offers/999999/claim", headers=staff_b)).status_code == 404


def test_limits_attach_by_path_in_one_place_and_never_to_wechat_callbacks() -> None:
    rules = {r.name: r for r in DEFAULT_RULES}
    assert {"login", "oauth_callback", "handoff_code", "offer_claim", "coupon_claim"} <= set(rules)
    assert rules["coupon_claim"].matches("POST", "/api/coupons/17/claim")
    assert rules["coupon_claim"].matches("POST", "/api/customer/coupons/claim")
    assert not rules["coupon_claim"].matches("GET", "/api/coupons/17/claim")
    assert rules["handoff_code"].matches("POST", "/api/staff/dispatches/abc123/deliver")
    assert rules["offer_claim"].matches("POST", "/api/staff/dispatches/abc123/claim")
    assert rules["oauth_callback"].matches("GET", "/auth/wechat/callback")
    callbacks = [
        "/wechat/message",
        "/wechat/message/wx123",
        "/payments/wechatpay/notify",
        "/payments/wechatpay/refund-notify",
        "/sandbox/api/pay/pay",
    ]
    for rule in DEFAULT_RULES:
        for path in callbacks:
            assert not rule.matches("POST", path) and not rule.matches("GET", path), (rule.name, path)


async def test_the_limiter_lets_callbacks_through_even_under_a_catch_all_rule() -> None:
    @post("/{path:path}", status_code=200)
    async def anything(path: str) -> str:
        return "ok"

    from litestar.middleware.rate_limit import RateLimitConfig

    middleware = type("CatchAll", (RuleRateLimitMiddleware,), {"rules": (LimitRule("all", "POST", ("*",), 1),)})
    config = RateLimitConfig(rate_limit=("minute", 1), middleware_class=middleware, store="rl")
    app = Litestar([anything], middleware=[config.middleware], stores={"rl": MemoryStore()})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for prefix in CALLBACK_PREFIXES:
            assert [(await c.post(f"{prefix}/x")).status_code for _ in range(3)] == [200, 200, 200], prefix
        assert [(await c.post("/api/anything")).status_code for _ in range(3)] == [200, 429, 429]


def test_the_setting_lifts_or_changes_limits() -> None:
    with settings_env(O2O_RATE_LIMITS="off"):
        assert limit_rules() == ()
    with settings_env(O2O_RATE_LIMITS="login=3/second,offer_claim=off"):
        rules = {r.name: r for r in limit_rules()}
        assert (rules["login"].max_requests, rules["login"].per) == (3, "second")
        assert "offer_claim" not in rules and "coupon_claim" in rules
    with settings_env(O2O_RATE_LIMITS="logon=3/second"), pytest.raises(ValueError, match="unknown limit 'logon'"):
        limit_rules()
    with settings_env(O2O_RATE_LIMITS="login=lots"), pytest.raises(ValueError, match="login=10/minute"):
        limit_rules()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def app_without_redis(clean: None) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its rate-limit store pointing at a Redis that is not there."""
    from core.app import create_app

    with settings_env(REDIS_URL=f"redis://127.0.0.1:{_dead_port()}/0"):
        app = create_app()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as c:
            yield c


async def test_rate_limits_fail_open_when_redis_is_down(app_without_redis: httpx.AsyncClient) -> None:
    await staff_user("clerk2")
    login = next(r for r in DEFAULT_RULES if r.name == "login")
    statuses = [
        (await app_without_redis.post("/api/auth/login", json={"username": "clerk2", "password": "x"})).status_code
        for _ in range(login.max_requests + 3)
    ]
    assert set(statuses) == {401}  # neither refused by the limiter nor broken by it
    r = await app_without_redis.post("/api/auth/login", json={"username": "clerk2", "password": "correct horse"})
    assert r.status_code == 200, r.text


# --- request size ------------------------------------------------------------------------------------------


async def test_an_oversized_body_gets_a_clear_413(client: httpx.AsyncClient) -> None:
    limit = get_settings().o2o_max_body_bytes
    r = await client.post(
        "/api/auth/login",
        content=b'{"username": "' + b"x" * limit + b'", "password": "y"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413, r.text
    assert "请求内容太大" in r.json()["detail"] and "O2O_MAX_BODY_BYTES" in r.json()["detail"]


# --- CSRF ------------------------------------------------------------------------------------------------------


async def _customer_cookie() -> tuple[int, dict[str, str]]:
    async with unit_of_work() as s:
        customer = await make_customer(s, await make_account(s))
    return customer, {"Cookie": f"{COOKIE}={issue_token('customer', customer, 'customer')}"}


async def _nickname(customer_id: int) -> str | None:
    from sqlalchemy import text

    async with unit_of_work() as s:
        return await s.scalar(text("SELECT nickname FROM customers WHERE id = :c"), {"c": customer_id})


async def test_cross_site_writes_with_the_session_cookie_are_refused(client: httpx.AsyncClient) -> None:
    customer, cookie = await _customer_cookie()
    for evil in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        r = await client.patch("/api/customer/me", json={"nickname": "黑客"}, headers={**cookie, **evil})
        assert r.status_code == 403, (evil, r.text)
        assert "refused" in r.json()["detail"]
    assert await _nickname(customer) != "黑客"
    # The same write from our own pages goes through.
    for own in ({"Origin": ORIGIN}, {"Sec-Fetch-Site": "same-origin"}, {"Referer": f"{ORIGIN}/cart"}):
        r = await client.patch("/api/customer/me", json={"nickname": "小明"}, headers={**cookie, **own})
        assert r.status_code == 200, (own, r.text)
    assert await _nickname(customer) == "小明"
    # Reads are not writes.
    assert (
        await client.get("/api/customer/me", headers={**cookie, "Origin": "https://evil.example"})
    ).status_code == 200


async def test_bearer_requests_and_wechat_callbacks_are_not_csrf_checked(client: httpx.AsyncClient) -> None:
    customer, cookie = await _customer_cookie()
    bearer = {"Authorization": f"Bearer {issue_token('customer', customer, 'customer')}"}
    r = await client.patch(
        "/api/customer/me", json={"nickname": "接口"}, headers={**bearer, "Origin": "https://evil.example"}
    )
    assert r.status_code == 200, r.text
    evil = {**cookie, "Origin": "https://evil.example"}
    r = await client.post("/payments/wechatpay/notify", content=b"{}", headers=evil)
    assert r.status_code != 403 or "refused" not in r.text
    r = await client.post("/wechat/message", content=b"<xml></xml>", headers=evil)
    assert "refused:" not in r.text


async def test_session_cookies_are_samesite_lax(client: httpx.AsyncClient) -> None:
    await staff_user("cookie.check")
    r = await client.post("/api/auth/login", json={"username": "cookie.check", "password": "correct horse"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "o2o_session=" in cookie and "samesite=lax" in cookie and "httponly" in cookie


# --- security headers -------------------------------------------------------------------------------------------


def _inline_hashes(html: str) -> set[str]:
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)
    }


@pytest.mark.parametrize("path", ["/staff", "/admin", "/finance"])
async def test_pages_carry_a_csp_that_allows_only_their_own_scripts(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    script_src = directives["script-src"]
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert _inline_hashes(r.text) and _inline_hashes(r.text) <= set(script_src.split())
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"].startswith("'self'")
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert int(r.headers["content-length"]) == len(r.content)


async def test_the_sandbox_jsbridge_is_allowed_on_customer_pages_in_dev(client: httpx.AsyncClient) -> None:
    from tests.integration.orders.factories import world

    w = await world()
    r = await client.get("/", cookies={COOKIE: issue_token("customer", w.customer_id, "customer")})
    assert r.status_code == 200, r.text
    sandbox = get_settings().sandbox_base.rsplit("/sandbox", 1)[0]
    assert "/sandbox/static/jsbridge.js" in r.text
    csp = r.headers["content-security-policy"]
    assert sandbox in csp.split("script-src", 1)[1].split(";")[0]


async def test_api_answers_are_nosniff_without_a_page_policy(client: httpx.AsyncClient) -> None:
    r = await client.get("/health/live")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in r.headers


# --- phone numbers ---------------------------------------------------------------------------------------------


def test_mask_phone() -> None:
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("+8613812341234") == "+86*******1234"
    assert mask_phone("") == "" and mask_phone(None) is None
    assert mask_phone("1234") == "****"
