"""The SLA clock's risk monitor: timers at paid + 10 / 30 / 50 min and at the promise check the stage reached,
and escalate a late order to HQ staff (WeCom card, console, DispatchAtRisk) while there is time to act."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, jobs
from core.events import publish
from delivery.audit import Entry, record
from delivery.events import DispatchAtRisk
from delivery.models import Dispatch
from delivery.notify_staff import hq_card, tell_hq
from delivery.order_facts import order_facts
from delivery.settings import dispatch_settings

log = structlog.get_logger(__name__)

SLA_JOB = "delivery.sla_check"
# check -> (the order statuses that mean "on time for this check", what HQ is told)
CHECKS: dict[str, tuple[frozenset[str], str]] = {
    "claim": (
        frozenset({"accepted", "preparing", "out_for_delivery", "delivered", "completed"}),
        "还没有门店接单 (no store has claimed it)",
    ),
    "out": (frozenset({"out_for_delivery", "delivered", "completed"}), "还没有出发配送 (not out for delivery yet)"),
    "delivered": (frozenset({"delivered", "completed"}), "还没有送达 (not delivered yet)"),
    "promise": (frozenset({"delivered", "completed"}), "已超过一小时承诺 (the one-hour promise is missed)"),
}


def sla_key(dispatch_id: int, check: str) -> str:
    return f"delivery.sla:{dispatch_id}:{check}"


async def schedule_checks(session: AsyncSession, dispatch_id: int, paid_at: datetime, promise_at: datetime) -> None:
    s = dispatch_settings()
    when = {
        "claim": paid_at + timedelta(minutes=s.risk_claim_min),
        "out": paid_at + timedelta(minutes=s.risk_out_min),
        "delivered": paid_at + timedelta(minutes=s.risk_delivered_min),
        "promise": promise_at,
    }
    for check, at in when.items():
        await jobs.enqueue(
            session,
            SLA_JOB,
            {"dispatch_id": dispatch_id, "check": check},
            run_at=at,
            dedupe_key=sla_key(dispatch_id, check),
        )


async def check_sla(session: AsyncSession, dispatch_id: int, check: str) -> bool:
    """True when the order is late for `check` (and HQ was told)."""
    d = await session.get(Dispatch, dispatch_id, with_for_update=True, populate_existing=True)
    if d is None or d.status not in ("pending", "offering", "accepted") or check not in CHECKS:
        return False
    facts = await order_facts(session, d.order_id)
    on_time, what = CHECKS[check]
    if facts.status in on_time:
        return False
    minutes = int((clock.now() - d.paid_at).total_seconds() // 60)
    d.risk_level += 1
    d.updated_at = clock.now()
    await session.flush()
    kind = "sla_missed" if check == "promise" else "risk"
    await record(
        session,
        d.id,
        d.order_id,
        [
            Entry(
                kind,
                store_id=d.accepted_store_id,
                reason=what,
                data={"check": check, "minutes_since_paid": minutes, "status": facts.status},
            )
        ],
    )
    await publish(session, DispatchAtRisk(order_id=d.order_id, check=check, minutes_since_paid=minutes))
    left = int((d.promise_at - clock.now()).total_seconds() // 60)
    await tell_hq(
        session,
        "risk",
        hq_card(
            facts.number, "急送订单超时风险", f"付款 {minutes} 分钟，{what}；距承诺还剩 {left} 分钟", facts.public_id
        ),
        {
            "order_id": facts.public_id,
            "number": facts.number,
            "check": check,
            "minutes_since_paid": minutes,
            "minutes_left": left,
        },
        key=f"risk:{d.id}:{check}",
    )
    log.warning("dispatch_at_risk", order_id=d.order_id, check=check, minutes=minutes, status=facts.status)
    return True
