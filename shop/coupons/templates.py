"""Coupon templates for admins: create with checks that make the terms coherent, change, remove, report usage."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import Conflict, InvalidInput
from shop.audit import Actor, record_audit
from shop.coupons.errors import TemplateNotFound
from shop.coupons.expire_coupons import schedule_expiry
from shop.coupons.models import CouponTemplate
from shop.coupons.rules import Terms, describe
from shop.coupons.schemas import TemplateIn, TemplateOut, TemplatePatch, UsageOut
from shop.pagination import Page, check_page


def terms_of(t: CouponTemplate) -> Terms:
    return Terms(t.kind, t.threshold_fen, t.off_fen, t.percent_off, t.cap_fen, t.scope, tuple(t.scope_ids or ()))


def template_out(t: CouponTemplate) -> TemplateOut:
    return TemplateOut(
        t.id,
        t.code,
        t.title,
        t.description,
        t.kind,
        describe(terms_of(t)),
        t.threshold_fen,
        t.off_fen,
        t.percent_off,
        t.cap_fen,
        t.scope,
        list(t.scope_ids or ()),
        t.claim_starts_at,
        t.claim_ends_at,
        t.valid_from,
        t.valid_until,
        t.valid_days,
        t.total_quota,
        t.issued,
        t.per_customer_limit,
        t.per_day_limit,
        t.claimable,
        t.auto_issue,
        t.status,
    )


def check_template(d: TemplateIn) -> None:
    """Terms that make sense together; each message says what to change."""
    if d.kind == "threshold" and not (d.threshold_fen > 0 and 0 < d.off_fen <= d.threshold_fen):
        raise InvalidInput("满减券 needs threshold_fen > 0 and 0 < off_fen <= threshold_fen")
    if d.kind == "percent" and (d.percent_off is None or d.off_fen):
        raise InvalidInput("折扣券 needs percent_off (1–99, the percentage taken off) and no off_fen")
    if d.kind != "percent" and (d.percent_off is not None or d.cap_fen is not None):
        raise InvalidInput("percent_off and cap_fen are for 折扣券 (kind percent) only")
    if d.kind in ("cash", "newcomer") and d.off_fen <= 0:
        raise InvalidInput(f"a {d.kind} coupon needs off_fen > 0")
    if d.kind == "cash" and d.threshold_fen:
        raise InvalidInput("无门槛券 has no threshold; use kind threshold for 满减")
    if d.kind == "free_delivery" and d.off_fen:
        raise InvalidInput("a free_delivery coupon takes the delivery fee off; leave off_fen at 0")
    if (d.scope == "all") != (not d.scope_ids):
        raise InvalidInput("scope all takes no scope_ids; categories/products/stores need at least one id")
    if any(i <= 0 for i in d.scope_ids):
        raise InvalidInput("scope_ids are positive ids")
    fixed = d.valid_from is not None or d.valid_until is not None
    if fixed == (d.valid_days is not None):
        raise InvalidInput("give either valid_days (N days after the claim) or valid_from and valid_until")
    if fixed and (d.valid_from is None or d.valid_until is None or d.valid_from >= d.valid_until):
        raise InvalidInput("valid_from must be before valid_until")
    for name in ("claim_starts_at", "claim_ends_at", "valid_from", "valid_until"):
        value = getattr(d, name)
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone, e.g. 2026-05-01T00:00:00+08:00")
    if d.claim_starts_at and d.claim_ends_at and d.claim_starts_at >= d.claim_ends_at:
        raise InvalidInput("claim_starts_at must be before claim_ends_at")
    if d.per_day_limit is not None and d.per_day_limit > d.per_customer_limit:
        raise InvalidInput("per_day_limit cannot exceed per_customer_limit")


async def create_template(session: AsyncSession, d: TemplateIn, actor: Actor) -> CouponTemplate:
    check_template(d)
    if d.code is not None and await session.scalar(select(CouponTemplate.id).where(CouponTemplate.code == d.code)):
        raise Conflict(f"a coupon template with code {d.code!r} already exists")
    t = CouponTemplate(
        code=d.code,
        title=d.title.strip(),
        description=d.description.strip(),
        kind=d.kind,
        threshold_fen=d.threshold_fen,
        off_fen=d.off_fen,
        percent_off=d.percent_off,
        cap_fen=d.cap_fen,
        scope=d.scope,
        scope_ids=sorted(set(d.scope_ids)),
        claim_starts_at=d.claim_starts_at,
        claim_ends_at=d.claim_ends_at,
        valid_from=d.valid_from,
        valid_until=d.valid_until,
        valid_days=d.valid_days,
        total_quota=d.total_quota,
        issued=0,
        per_customer_limit=d.per_customer_limit,
        per_day_limit=d.per_day_limit,
        claimable=d.claimable,
        auto_issue=d.auto_issue,
        status="active",
    )
    session.add(t)
    await session.flush()
    if t.valid_until is not None:
        await schedule_expiry(session, t.valid_until)
    await record_audit(session, actor, "coupon_template.create", "coupon_template", t.id, after={"title": t.title})
    return t


async def get_template(session: AsyncSession, template_id: int) -> CouponTemplate:
    t = await session.get(CouponTemplate, template_id)
    if t is None:
        raise TemplateNotFound(template_id)
    return t


async def change_template(session: AsyncSession, template_id: int, p: TemplatePatch, actor: Actor) -> CouponTemplate:
    t = await get_template(session, template_id)
    changes: dict[str, Any] = {k: getattr(p, k) for k in p.__struct_fields__ if getattr(p, k) is not UNSET}
    if not changes:
        return t
    before = {k: _jsonable(getattr(t, k)) for k in changes}
    if "total_quota" in changes:
        # Conditional: never below what is already issued, even against a concurrent claim.
        hit = await session.execute(
            update(CouponTemplate)
            .where(CouponTemplate.id == template_id, CouponTemplate.issued <= changes["total_quota"])
            .values(total_quota=changes.pop("total_quota"), updated_at=clock.now())
            .returning(CouponTemplate.id)
        )
        if hit.first() is None:
            raise Conflict(f"{t.issued} coupons are already issued; total_quota cannot go below that")
    starts = changes.get("claim_starts_at", t.claim_starts_at)
    ends = changes.get("claim_ends_at", t.claim_ends_at)
    if starts and ends and starts >= ends:
        raise InvalidInput("claim_starts_at must be before claim_ends_at")
    if changes:
        await session.execute(
            update(CouponTemplate).where(CouponTemplate.id == template_id).values(**changes, updated_at=clock.now())
        )
    await session.refresh(t)
    after = {k: _jsonable(getattr(t, k)) for k in before}
    await record_audit(session, actor, "coupon_template.update", "coupon_template", t.id, before=before, after=after)
    return t


def _jsonable(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


async def remove_template(session: AsyncSession, template_id: int, actor: Actor) -> None:
    t = await get_template(session, template_id)
    hit = await session.execute(
        delete(CouponTemplate)
        .where(CouponTemplate.id == template_id, CouponTemplate.issued == 0)
        .returning(CouponTemplate.id)
    )
    if hit.first() is None:
        raise Conflict(f"{t.issued} coupons of this template are issued; end it instead (status ended)")
    await record_audit(
        session, actor, "coupon_template.delete", "coupon_template", template_id, before={"title": t.title}
    )


async def templates_page(
    session: AsyncSession, *, status: str | None, page: int, page_size: int, open_now: bool = False
) -> Page[CouponTemplate]:
    limit, offset = check_page(page, page_size)
    q = select(CouponTemplate)
    if status is not None:
        q = q.where(CouponTemplate.status == status)
    if open_now:  # campaigns running now: claim window open, quota left
        now = clock.now()
        q = q.where(
            CouponTemplate.status == "active",
            (CouponTemplate.claim_starts_at.is_(None)) | (CouponTemplate.claim_starts_at <= now),
            (CouponTemplate.claim_ends_at.is_(None)) | (CouponTemplate.claim_ends_at > now),
        )
    total = await session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = (await session.scalars(q.order_by(CouponTemplate.id.desc()).limit(limit).offset(offset))).all()
    return Page(list(rows), total, page, page_size)


_USAGE = text(
    """
    SELECT t.id, t.title, t.status, t.total_quota, t.issued,
           count(c.id) FILTER (WHERE c.state = 'available') AS available,
           count(c.id) FILTER (WHERE c.state = 'locked') AS locked,
           count(c.id) FILTER (WHERE c.state = 'used') AS used,
           count(c.id) FILTER (WHERE c.state = 'returned') AS returned,
           count(c.id) FILTER (WHERE c.state = 'expired') AS expired,
           coalesce(sum(c.times_returned), 0) AS times_returned
    FROM coupon_templates t LEFT JOIN customer_coupons c ON c.template_id = t.id
    WHERE CAST(:template_id AS bigint) IS NULL OR t.id = :template_id
    GROUP BY t.id ORDER BY t.id
    """
)


async def usage_report(session: AsyncSession, template_id: int | None = None) -> list[UsageOut]:
    rows = (await session.execute(_USAGE, {"template_id": template_id})).all()
    return [UsageOut(*r) for r in rows]
