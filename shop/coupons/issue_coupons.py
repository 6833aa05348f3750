"""Issuing a template to many customers at once (admins, campaigns to a segment): one savepoint per customer."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shop.audit import Actor, record_audit
from shop.coupons.claim_coupon import issue_quietly
from shop.coupons.schemas import IssueOut
from shop.coupons.templates import get_template


async def issue_to(
    db_session: AsyncSession, template_id: int, customer_ids: list[int], actor: Actor, *, source: str
) -> IssueOut:
    """Issue to each customer in a savepoint: refusals (quota gone, limit reached) are counted, not fatal."""
    await get_template(db_session, template_id)
    ids: list[int] = []
    for customer_id in dict.fromkeys(customer_ids):
        claimed = await issue_quietly(db_session, customer_id, template_id, source=source)
        if claimed is not None:
            ids.append(claimed.coupon_id)
    await record_audit(
        db_session,
        actor,
        f"coupon.issue_{source}",
        "coupon_template",
        template_id,
        after={"asked": len(customer_ids), "issued": len(ids)},
    )
    return IssueOut(len(ids), len(set(customer_ids)) - len(ids), ids)
