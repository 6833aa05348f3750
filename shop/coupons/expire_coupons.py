"""Coupon expiry and the reminder before it: durable jobs (core.jobs) per hour bucket of expiry times.

Each claimed coupon makes sure a sweep is scheduled for the hour after it expires and a reminder sweep
24 h before (one job row per bucket: the dedupe key makes a repeat a no-op). A sweep handles every coupon
due, not only its bucket's, so a late or missed run is caught up by the next. Use at checkout re-checks
`valid_until` anyway, so a late sweep never makes an expired coupon usable.

The reminder is shop news for the layers above: `CouponExpiring` per coupon, which engage turns into a
template message (engage sends; shop does not know the official account).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.events import CouponExpiring, publish

log = structlog.get_logger(__name__)

EXPIRE_JOB = "coupons.expire"
REMIND_JOB = "coupons.remind"
REMIND_BEFORE = timedelta(hours=24)
BATCH = 1000


def _hour_ceil(at: datetime) -> datetime:
    floor = at.replace(minute=0, second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(hours=1)


async def schedule_expiry(session: AsyncSession, valid_until: datetime) -> None:
    """Make sure the expiry sweep and the reminder sweep for a coupon ending at `valid_until` exist."""
    now = clock.now()
    expire_at = _hour_ceil(valid_until)
    await jobs.enqueue(session, EXPIRE_JOB, run_at=expire_at, dedupe_key=f"{EXPIRE_JOB}:{expire_at:%Y%m%d%H}")
    remind_at = max(_hour_ceil(valid_until - REMIND_BEFORE), _hour_ceil(now))
    await jobs.enqueue(session, REMIND_JOB, run_at=remind_at, dedupe_key=f"{REMIND_JOB}:{remind_at:%Y%m%d%H}")


_EXPIRE = text(
    """
    UPDATE customer_coupons SET state = 'expired', expired_at = :now
    WHERE id IN (SELECT id FROM customer_coupons
                 WHERE state IN ('available', 'returned') AND valid_until <= :now
                 ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
    RETURNING id
    """
)


async def expire_due(session: AsyncSession) -> int:
    """Expire usable coupons past their end (a batch); returns how many. Locked ones wait for their order."""
    rows = (await session.execute(_EXPIRE, {"now": clock.now(), "batch": BATCH})).all()
    if len(rows) == BATCH:  # more to do: another run right after this one commits
        await jobs.enqueue(session, EXPIRE_JOB, dedupe_key=f"{EXPIRE_JOB}:more:{rows[-1].id}")
    if rows:
        log.info("coupons_expired", count=len(rows))
    return len(rows)


_REMIND = text(
    """
    UPDATE customer_coupons c SET reminded_at = :now
    FROM coupon_templates t
    WHERE t.id = c.template_id
      AND c.id IN (SELECT id FROM customer_coupons
                   WHERE state IN ('available', 'returned') AND reminded_at IS NULL
                     AND valid_until > :now AND valid_until <= :horizon
                   ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED)
    RETURNING c.id, c.customer_id, t.title, c.valid_until
    """
)


async def remind_expiring(session: AsyncSession) -> int:
    """Mark coupons ending within REMIND_BEFORE as reminded and publish CouponExpiring for each."""
    now = clock.now()
    rows = (await session.execute(_REMIND, {"now": now, "horizon": now + REMIND_BEFORE, "batch": BATCH})).all()
    for r in rows:
        await publish(
            session, CouponExpiring(customer_id=r.customer_id, coupon_id=r.id, title=r.title, valid_until=r.valid_until)
        )
    if len(rows) == BATCH:
        await jobs.enqueue(session, REMIND_JOB, dedupe_key=f"{REMIND_JOB}:more:{rows[-1].id}")
    return len(rows)


@jobs.job_handler(EXPIRE_JOB)
async def run_expire(session: AsyncSession, payload: dict[str, Any]) -> None:
    await expire_due(session)


@jobs.job_handler(REMIND_JOB)
async def run_remind(session: AsyncSession, payload: dict[str, Any]) -> None:
    await remind_expiring(session)
