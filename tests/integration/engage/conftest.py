"""Engage test helpers: the sandbox as the customers' WeChat, stores, staff/admin tokens, job runs."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.auth import issue_token
from core.db import unit_of_work
from core.settings import get_settings
from core.users import create_user
from tests.integration.orders.factories import make_store

_seq = itertools.count(1)


@pytest.fixture
async def api(live_app: str) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's own API (users acting, what they received)."""
    async with httpx.AsyncClient(base_url=get_settings().sandbox_base, timeout=30) as c:
        yield c


@pytest.fixture
async def app_http(live_app: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_app, timeout=30) as c:
        yield c


async def user_headers(role: str = "admin") -> tuple[int, dict[str, str]]:
    async with unit_of_work() as s:
        user = await create_user(s, username=f"{role}{next(_seq)}", password="correct horse", role=role)
    return user.id, {"Authorization": f"Bearer {issue_token('user', user.id, role)}"}


@pytest.fixture
async def admin(live_app: str) -> dict[str, str]:
    return (await user_headers("admin"))[1]


async def new_user(api: httpx.AsyncClient, nickname: str = "小明") -> str:
    r = await api.post("/api/users", json={"nickname": nickname})
    assert r.status_code == 201, r.text
    return str(r.json()["openid"])


async def act(api: httpx.AsyncClient, openid: str, action: str, **body: Any) -> dict[str, Any]:
    """A sandbox user acting (follow, scan, text, location, click, view); the delivery as the sandbox saw it."""
    r = await api.post(f"/api/users/{openid}/{action}", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def follower(api: httpx.AsyncClient, nickname: str = "小明", **follow: Any) -> str:
    openid = await new_user(api, nickname)
    d = await act(api, openid, "follow", **follow)
    assert d["status"] in ("replied", "ok"), d
    return openid


async def chat(api: httpx.AsyncClient, openid: str, kind: str | None = None) -> list[dict[str, Any]]:
    params = {"kind": kind} if kind else {}
    r = await api.get(f"/api/users/{openid}/messages", params=params)
    assert r.status_code == 200, r.text
    return list(r.json())


async def run_jobs(rounds: int = 10) -> int:
    from core.jobs import run_due_jobs

    total = 0
    for _ in range(rounds):
        n = await run_due_jobs()
        total += n
        if not n:
            break
    return total


async def scalar(sql: str, **params: Any) -> Any:
    async with unit_of_work() as s:
        return await s.scalar(text(sql), params)


async def execute(sql: str, **params: Any) -> None:
    async with unit_of_work() as s:
        await s.execute(text(sql), params)


async def rows(sql: str, **params: Any) -> list[Any]:
    async with unit_of_work() as s:
        return list((await s.execute(text(sql), params)).all())


async def store(**kw: Any) -> int:
    async with unit_of_work() as s:
        return await make_store(s, **kw)


async def customer_of(openid: str) -> Any:
    found = await rows("SELECT * FROM customers WHERE openid = :o", o=openid)
    assert len(found) == 1, found
    return found[0]
