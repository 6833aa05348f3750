"""Demo member data loads once: levels, plans and a card per existing customer; a rerun adds nothing."""

from __future__ import annotations

from core.db import unit_of_work
from shop.members.seed import seed_members
from tests.integration.orders.factories import make_account, make_customer
from tests.integration.payments.conftest import scalar


async def test_seed_members_is_idempotent(clean: None) -> None:
    async with unit_of_work() as s:
        account = await make_account(s)
        for _ in range(3):
            await make_customer(s, account)
        assert await seed_members(s) == 3
    async with unit_of_work() as s:
        assert await seed_members(s) == 0
    assert await scalar("SELECT count(*) FROM member_levels") == 3
    assert await scalar("SELECT count(*) FROM member_topup_plans WHERE active") == 3
    assert await scalar("SELECT count(DISTINCT card_no) FROM member_cards") == 3
