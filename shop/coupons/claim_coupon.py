"""Claiming and issuing coupons: one statement takes a unit of the quota and writes the customer's coupon.

The quota is a conditional UPDATE (`issued < total_quota`) on the template row, the per-customer and
per-day limits are checked in the same statement, and UNIQUE (template, customer, seq) makes concurrent
claims by one customer lose with a constraint error instead of exceeding the limit; a failed statement
undoes its own quota increment. PostgreSQL is the guard: no Redis involved.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from shop.coupons.errors import ClaimRefused, TemplateNotFound
from shop.coupons.expire_coupons import schedule_expiry

log = structlog.get_logger(__name__)

# Flash campaigns: once PostgreSQL said a template is sold out, this process refuses claims for it without
# a database round trip for a moment. It can only refuse earlier, never issue more (the UPDATE is the guard);
# an admin raising the quota is seen within SOLD_OUT_MEMO_S.
SOLD_OUT_MEMO_S = 1.0
_sold_out_until: dict[int, float] = {}


def forget_sold_out() -> None:
    _sold_out_until.clear()


_CLAIM = text(
    """
    WITH tpl AS (
        SELECT id, status, issued, total_quota, claim_starts_at, claim_ends_at, per_customer_limit, per_day_limit,
               claimable, valid_until
        FROM coupon_templates WHERE id = :t
    ), prior AS (
        SELECT count(*) AS n, count(*) FILTER (WHERE claimed_on = :today) AS d
        FROM customer_coupons WHERE template_id = :t AND customer_id = :c
    ), upd AS (
        UPDATE coupon_templates t SET issued = t.issued + 1
        FROM prior
        WHERE t.id = :t AND t.status = 'active' AND t.issued < t.total_quota
          AND (:by_admin OR t.claimable)
          AND (t.claim_starts_at IS NULL OR t.claim_starts_at <= :now)
          AND (t.claim_ends_at IS NULL OR :now < t.claim_ends_at)
          AND (t.valid_until IS NULL OR :now < t.valid_until)
          AND prior.n < t.per_customer_limit
          AND (t.per_day_limit IS NULL OR prior.d < t.per_day_limit)
        RETURNING t.id, t.valid_from, t.valid_until, t.valid_days
    ), ins AS (
        INSERT INTO customer_coupons (template_id, customer_id, seq, code, state, source, claimed_at, claimed_on,
                                      valid_from, valid_until, times_returned)
        SELECT upd.id, :c, prior.n + 1, :code, 'available', :source, :now, :today,
               coalesce(upd.valid_from, :now),
               coalesce(upd.valid_until, CAST(:now AS timestamptz) + make_interval(days => upd.valid_days)), 0
        FROM upd, prior
        RETURNING id, valid_until
    )
    SELECT ins.id, ins.valid_until, tpl.status, tpl.issued, tpl.total_quota, tpl.claim_starts_at, tpl.claim_ends_at,
           tpl.per_customer_limit, tpl.per_day_limit, tpl.claimable, tpl.valid_until AS tpl_valid_until,
           prior.n, prior.d
    FROM prior LEFT JOIN tpl ON true LEFT JOIN ins ON true
    """
)


@dataclass(frozen=True, slots=True)
class Claimed:
    coupon_id: int
    template_id: int
    valid_until: datetime


def new_code() -> str:
    """12 digits the customer shows in store; unique by constraint."""
    return f"{secrets.randbelow(10**12):012d}"


def _refusal(row: object, template_id: int, by_admin: bool, now: datetime) -> ClaimRefused | TemplateNotFound:
    r = row._mapping  # type: ignore[attr-defined]
    if r["status"] is None:
        return TemplateNotFound(template_id)
    if r["status"] != "active" or (not r["claimable"] and not by_admin):
        return ClaimRefused("该优惠券活动已结束或暂停领取", "not_active")
    if r["claim_starts_at"] is not None and now < r["claim_starts_at"]:
        when = r["claim_starts_at"].astimezone(clock.SHANGHAI).strftime("%m月%d日 %H:%M")
        return ClaimRefused(f"领取还没开始，{when}开抢", "not_started")
    if (r["claim_ends_at"] is not None and now >= r["claim_ends_at"]) or (
        r["tpl_valid_until"] is not None and now >= r["tpl_valid_until"]
    ):
        return ClaimRefused("领取时间已过，活动已结束", "ended")
    if r["n"] >= r["per_customer_limit"]:
        return ClaimRefused(f"每人限领{r['per_customer_limit']}张，您已领过了", "per_customer_limit")
    if r["per_day_limit"] is not None and r["d"] >= r["per_day_limit"]:
        return ClaimRefused(f"每人每天限领{r['per_day_limit']}张，明天再来吧", "per_day_limit")
    if r["issued"] >= r["total_quota"]:
        return ClaimRefused("手慢了，优惠券已被抢光", "sold_out")
    # The row changed between our snapshot and the update (another claim took the last unit).
    return ClaimRefused("手慢了，优惠券已被抢光", "sold_out")


async def claim_coupon(session: AsyncSession, customer_id: int, template_id: int, *, source: str = "claim") -> Claimed:
    """Issue one coupon of the template to the customer, or ClaimRefused / TemplateNotFound.

    A loss to a concurrent claim by the same customer surfaces as ClaimRefused too; the session's
    transaction is then unusable (callers issuing in a loop wrap each call in a savepoint).
    """
    if source == "claim" and _sold_out_until.get(template_id, 0.0) > time.monotonic():
        raise ClaimRefused("手慢了，优惠券已被抢光", "sold_out")
    now = clock.now()
    params = {
        "t": template_id,
        "c": customer_id,
        "now": now,
        "today": clock.now_shanghai().date(),
        "code": new_code(),
        "source": source,
        "by_admin": source != "claim",
    }
    try:
        row = (await session.execute(_CLAIM, params)).one()
    except IntegrityError as exc:
        if "uq_customer_coupons_template_id_customer_id_seq" in str(exc.orig):
            raise ClaimRefused("您已经领过了，请勿重复领取", "per_customer_limit") from None
        raise
    if row.id is None:
        refusal = _refusal(row, template_id, source != "claim", now)
        if source == "claim" and isinstance(refusal, ClaimRefused) and refusal.reason == "sold_out":
            _sold_out_until[template_id] = time.monotonic() + SOLD_OUT_MEMO_S
        log.info("coupon_claim_refused", template_id=template_id, customer_id=customer_id, why=str(refusal.detail))
        raise refusal
    await schedule_expiry(session, row.valid_until)
    log.info("coupon_claimed", template_id=template_id, customer_id=customer_id, coupon_id=row.id, source=source)
    return Claimed(int(row.id), template_id, row.valid_until)


async def issue_quietly(session: AsyncSession, customer_id: int, template_id: int, *, source: str) -> Claimed | None:
    """Issue in a savepoint: a refusal (quota, limit) leaves the caller's transaction intact and returns None."""
    try:
        async with session.begin_nested():
            return await claim_coupon(session, customer_id, template_id, source=source)
    except (ClaimRefused, TemplateNotFound) as exc:
        log.info("coupon_not_issued", template_id=template_id, customer_id=customer_id, why=exc.detail)
        return None
