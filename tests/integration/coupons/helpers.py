"""Coupon test helpers: templates through the admin service, customers, reading rows back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from core.db import unit_of_work
from shop.audit import SYSTEM
from shop.coupons.schemas import TemplateIn
from shop.coupons.templates import create_template
from tests.integration.orders.factories import make_customer


async def template(**kw: Any) -> int:
    body: dict[str, Any] = {"title": "测试券", "kind": "cash", "off_fen": 500, "total_quota": 100, "valid_days": 7}
    body.update(kw)
    if "valid_from" in kw:
        body.pop("valid_days", None)
    async with unit_of_work() as s:
        t = await create_template(s, TemplateIn(**body), SYSTEM)
        return t.id


async def customers(account_id: int, n: int) -> list[int]:
    async with unit_of_work() as s:
        return [await make_customer(s, account_id) for _ in range(n)]


async def rows(sql: str, **params: Any) -> list[Any]:
    async with unit_of_work() as s:
        return list((await s.execute(text(sql), params)).all())


async def scalar(sql: str, **params: Any) -> Any:
    async with unit_of_work() as s:
        return await s.scalar(text(sql), params)
