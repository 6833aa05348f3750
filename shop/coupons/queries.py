"""What customers see: their coupons by state (paged), and the coupon centre of templates they can claim."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from shop.coupons.models import STATES, CouponTemplate, CustomerCoupon
from shop.coupons.rules import Terms, describe
from shop.coupons.schemas import CentreItemOut, CouponOut
from shop.coupons.templates import terms_of
from shop.pagination import Page, check_page

# "usable" = what can go on an order now: available or returned, and not past its end.
STATE_FILTERS = (*STATES, "usable")


async def my_coupons(
    session: AsyncSession, customer_id: int, *, state: str | None, page: int, page_size: int
) -> Page[CouponOut]:
    limit, offset = check_page(page, page_size)
    if state is not None and state not in STATE_FILTERS:
        raise InvalidInput(f"state must be one of {', '.join(STATE_FILTERS)}")
    q = (
        select(CustomerCoupon, CouponTemplate)
        .join(CouponTemplate, CouponTemplate.id == CustomerCoupon.template_id)
        .where(CustomerCoupon.customer_id == customer_id)
    )
    if state == "usable":
        q = q.where(CustomerCoupon.state.in_(("available", "returned")), CustomerCoupon.valid_until > clock.now())
    elif state is not None:
        q = q.where(CustomerCoupon.state == state)
    total = await session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = (
        await session.execute(q.order_by(CustomerCoupon.valid_until, CustomerCoupon.id).limit(limit).offset(offset))
    ).all()
    items = [
        CouponOut(
            c.id,
            t.id,
            t.title,
            describe(terms_of(t)),
            t.kind,
            c.state,
            c.code,
            c.source,
            c.valid_from,
            c.valid_until,
            c.claimed_at,
            c.used_at,
        )
        for c, t in rows
    ]
    return Page(items, total, page, page_size)


_CENTRE = text(
    """
    SELECT t.*, coalesce(m.n, 0) AS mine, coalesce(m.d, 0) AS mine_today
    FROM coupon_templates t
    LEFT JOIN LATERAL (
        SELECT count(*) AS n, count(*) FILTER (WHERE c.claimed_on = :today) AS d
        FROM customer_coupons c WHERE c.template_id = t.id AND c.customer_id = :customer_id
    ) m ON true
    WHERE t.status = 'active' AND t.claimable
      AND (t.claim_ends_at IS NULL OR t.claim_ends_at > :now)
      AND (t.valid_until IS NULL OR t.valid_until > :now)
      AND (CAST(:template_id AS bigint) IS NULL OR t.id = :template_id)
    ORDER BY t.id DESC
    LIMIT 100
    """
)


def _why_not(r: object, now: object) -> str | None:
    t = r._mapping  # type: ignore[attr-defined]
    if t["claim_starts_at"] is not None and now < t["claim_starts_at"]:  # type: ignore[operator]
        return t["claim_starts_at"].astimezone(clock.SHANGHAI).strftime("%m月%d日 %H:%M开抢")
    if t["mine"] >= t["per_customer_limit"]:
        return "已领取"
    if t["per_day_limit"] is not None and t["mine_today"] >= t["per_day_limit"]:
        return "今日已领，明天再来"
    if t["issued"] >= t["total_quota"]:
        return "已抢光"
    return None


async def coupon_centre(session: AsyncSession, customer_id: int, template_id: int | None = None) -> list[CentreItemOut]:
    now = clock.now()
    rows = (
        await session.execute(
            _CENTRE,
            {"customer_id": customer_id, "now": now, "today": clock.now_shanghai().date(), "template_id": template_id},
        )
    ).all()
    out = []
    for r in rows:
        why = _why_not(r, now)
        terms = Terms(r.kind, r.threshold_fen, r.off_fen, r.percent_off, r.cap_fen, r.scope, tuple(r.scope_ids or ()))
        out.append(
            CentreItemOut(
                r.id,
                r.title,
                r.description,
                describe(terms),
                r.total_quota - r.issued,
                r.mine,
                why is None,
                why,
                r.claim_ends_at,
                r.valid_until,
                r.valid_days,
            )
        )
    return out
