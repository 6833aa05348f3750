"""Member level as a push segment: followers holding a card at the given levels, and nobody else."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.db import unit_of_work
from core.errors import InvalidInput
from engage.segments import parse_segment, segment_members
from shop.members import award_points
from tests.integration.members.conftest import Member
from tests.integration.orders.factories import make_customer


async def test_member_level_segment(member_world: Member) -> None:
    account = member_world.w.account_id
    async with unit_of_work() as s:
        silver = member_world.w.customer_id
        await award_points(s, silver, 1, 60_000)  # growth 600 yuan: 银卡
        no_card = await make_customer(s, account)
        for customer in (silver, no_card):
            await s.execute(
                text(
                    "INSERT INTO engage_followers (customer_id, account_id, openid, subscribed, created_at, updated_at) "
                    "SELECT id, account_id, openid, true, now(), now() FROM customers WHERE id = :c"
                ),
                {"c": customer},
            )
    async with unit_of_work() as s:
        who = await segment_members(s, account, parse_segment({"member_levels": ["silver", "gold"]}))
        assert [m.customer_id for m in who] == [silver]
        assert await segment_members(s, account, parse_segment({"member_levels": ["gold"]})) == []
        assert len(await segment_members(s, account, parse_segment({}))) == 2
    with pytest.raises(InvalidInput):
        parse_segment({"member_levels": "silver"})
