"""Auth: password sign-in, cookie and bearer sessions, role guards, clear errors."""

from __future__ import annotations

from httpx import AsyncClient

from core.auth import COOKIE, issue_token
from core.db import unit_of_work
from core.users import create_user


async def make_user(role: str = "staff", username: str = "alice") -> int:
    async with unit_of_work() as s:
        return (await create_user(s, username=username, password="correct horse", role=role)).id


async def test_login_sets_cookie_and_bearer_works(client: AsyncClient) -> None:
    await make_user("finance", "fin1")
    r = await client.post("/api/auth/login", json={"username": "fin1", "password": "correct horse"})
    assert r.status_code == 200
    token = r.json()["token"]
    assert COOKIE in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    me = await client.get("/api/auth/me")  # cookie
    assert me.json()["role"] == "finance"
    client.cookies.clear()
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "fin1"


async def test_wrong_password_and_unknown_user_look_the_same(client: AsyncClient) -> None:
    await make_user()
    a = await client.post("/api/auth/login", json={"username": "alice", "password": "wrong password"})
    b = await client.post("/api/auth/login", json={"username": "nobody", "password": "wrong password"})
    assert a.status_code == b.status_code == 401
    assert a.json()["detail"] == b.json()["detail"] == "wrong username or password"


async def test_bad_input_is_400_with_a_message(client: AsyncClient) -> None:
    r = await client.post("/api/auth/login", json={"username": "alice"})
    assert r.status_code == 400
    assert "password" in str(r.json()["extra"])
    r = await client.post("/api/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400


async def test_forged_and_expired_tokens_are_refused(client: AsyncClient) -> None:
    user_id = await make_user()
    good = issue_token("user", user_id, "staff")
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})).status_code == 401
    from datetime import timedelta

    expired = issue_token("user", user_id, "staff", ttl=timedelta(seconds=-1))
    assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"})).status_code == 401
    customer = issue_token("customer", 5, "customer")
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {customer}"})
    assert r.status_code == 403


async def test_duplicate_user_and_bad_role_are_clear_errors(clean: None) -> None:
    import pytest

    from core.errors import Conflict, InvalidInput

    await make_user()
    with pytest.raises(Conflict, match="already exists"):
        await make_user()
    with pytest.raises(InvalidInput, match="role must be one of"):
        await make_user("superuser", "bob")


async def test_tokens_follow_the_project_clock(client: AsyncClient) -> None:
    from datetime import timedelta

    from core import clock

    user_id = await make_user()
    clock.advance(timedelta(hours=3))  # a token issued "in the future" of the real clock is still valid
    token = issue_token("user", user_id, "staff", ttl=timedelta(hours=1))
    assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    assert (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
