"""The order state machines: one table of allowed transitions per fulfilment kind, and the one way to apply a step.

A step is one statement: a conditional `UPDATE orders … WHERE id = :id AND status = :expected` that
also stamps the stage time, joined (CTE) with the insert of its event row (who, from, to, why, when).
When another transaction moved the order first, the update matches nothing and the caller decides
again from the new state; no status is ever assigned anywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, metrics
from orders.errors import OrderNotFound

log = structlog.get_logger(__name__)

_COMMON: dict[str, tuple[str, ...]] = {
    "created": ("paid", "cancelled"),
    "reviewing": ("cancelled",),  # + the kind's first fulfilment stage, once the review approved it
}

TRANSITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "pickup": {
        **_COMMON,
        "paid": ("reviewing", "preparing", "cancelled"),
        "reviewing": ("preparing", "cancelled"),
        "preparing": ("ready", "cancelled"),
        "ready": ("picked_up", "cancelled"),
        "picked_up": ("completed",),
    },
    "delivery": {
        **_COMMON,
        "paid": ("reviewing", "preparing", "cancelled"),
        "reviewing": ("preparing", "cancelled"),
        "preparing": ("out_for_delivery", "cancelled"),
        "out_for_delivery": ("delivered",),
        "delivered": ("completed",),
    },
    "urgent": {
        **_COMMON,
        "paid": ("reviewing", "dispatching", "cancelled"),
        "reviewing": ("dispatching", "cancelled"),
        "dispatching": ("accepted", "cancelled"),
        # The accepting store gave the order back: dispatch offers it again.
        "accepted": ("dispatching", "preparing", "cancelled"),
        "preparing": ("out_for_delivery", "cancelled"),
        "out_for_delivery": ("delivered",),
        "delivered": ("completed",),
    },
}

FINAL = frozenset({"completed", "cancelled"})
# Stages that start fulfilment: only once the order is ready for it (paid, and approved if prescribed).
FULFILMENT_START = frozenset({"preparing", "dispatching"})
# Reached only through their own use case, never through transition().
OWN_USE_CASE = {"paid": "mark_paid", "reviewing": "mark_paid", "cancelled": "cancel_order"}
# Each status has its stage time column `<status>_at` (created → placed_at).
STAGE_COLUMN = {s: f"{s}_at" for s in {t for k in TRANSITIONS.values() for ts in k.values() for t in ts}}
STAGE_COLUMN["created"] = "placed_at"


def allowed_next(kind: str, status: str) -> tuple[str, ...]:
    return TRANSITIONS[kind].get(status, ())


def is_allowed(kind: str, current: str, to: str) -> bool:
    return to in allowed_next(kind, current)


# Columns every step returns: enough for the caller's side effects without another read.
STATE_COLUMNS = (
    "id, public_id, number, kind, status, customer_id, store_id, fulfil_store_id, needs_review, review_status, "
    "ready_for_fulfilment_at, total_fen, stored_value_fen, cash_due_fen, paid_fen, refunded_fen, coupon_id, "
    "member_card_id, payment_ref, promise_at, delivered_at, cancel_requested_at"
)


@dataclass(frozen=True, slots=True)
class OrderState:
    id: int
    public_id: str
    number: str
    kind: str
    status: str
    customer_id: int
    store_id: int
    fulfil_store_id: int | None
    needs_review: bool
    review_status: str
    ready_for_fulfilment_at: datetime | None
    total_fen: int
    stored_value_fen: int
    cash_due_fen: int
    paid_fen: int
    refunded_fen: int
    coupon_id: int | None
    member_card_id: int | None
    payment_ref: str | None
    promise_at: datetime
    delivered_at: datetime | None
    cancel_requested_at: datetime | None

    @property
    def stock_ref(self) -> str:
        return stock_ref(self.id)

    @property
    def working_store_id(self) -> int:
        """The store doing the work: the claiming store of an urgent order, else the selling store."""
        return self.fulfil_store_id or self.store_id


def stock_ref(order_id: int) -> str:
    return f"order:{order_id}"


def state_from_row(row: Any) -> OrderState:
    return OrderState(*row)


_LOAD = text(f"SELECT {STATE_COLUMNS} FROM orders WHERE id = :id")
_LOAD_FOR_UPDATE = text(f"SELECT {STATE_COLUMNS} FROM orders WHERE id = :id FOR UPDATE")


async def load_state(session: AsyncSession, order_id: int, *, lock: bool = False) -> OrderState:
    row = (await session.execute(_LOAD_FOR_UPDATE if lock else _LOAD, {"id": order_id})).first()
    if row is None:
        raise OrderNotFound(order_id)
    return state_from_row(row)


_statements: dict[tuple[str, tuple[str, ...], str], Any] = {}


def _step_sql(to: str, sets: tuple[str, ...], guard: str) -> Any:
    key = (to, sets, guard)
    stmt = _statements.get(key)
    if stmt is None:
        extra = "".join(f", {c} = :set_{c}" for c in sets)
        stmt = text(
            f"""
            WITH u AS (
                UPDATE orders SET status = :to, {STAGE_COLUMN[to]} = :now, updated_at = :now{extra}
                WHERE id = :id AND status = :from_status {guard}
                RETURNING {STATE_COLUMNS}
            ), e AS (
                INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, data, at)
                SELECT id, 'status', :from_status, :to, :actor, :reason, CAST(:data AS jsonb), :now FROM u
            )
            SELECT * FROM u
            """
        )
        _statements[key] = stmt
    return stmt


async def apply_step(
    session: AsyncSession,
    order_id: int,
    from_status: str,
    to: str,
    actor: str,
    reason: str,
    *,
    sets: Mapping[str, Any] | None = None,
    guard: str = "",
    data: Mapping[str, Any] | None = None,
) -> OrderState | None:
    """Move the order from `from_status` to `to` if it is still there; None when it no longer is.

    `sets` are more columns to write in the same statement (names are code, never input); `guard` is an
    extra SQL condition (code, never input).
    """
    sets = dict(sets or {})
    stmt = _step_sql(to, tuple(sorted(sets)), guard)
    params = {
        "id": order_id,
        "from_status": from_status,
        "to": to,
        "now": clock.now(),
        "actor": actor[:64],
        "reason": reason[:300],
        "data": json.dumps(dict(data)) if data else None,
        **{f"set_{k}": v for k, v in sets.items()},
    }
    row = (await session.execute(stmt, params)).first()
    if row is None:
        return None
    metrics.ORDERS.labels(to_status=to).inc()
    log.info("order_status", order_id=order_id, from_status=from_status, to_status=to, actor=actor, reason=reason)
    return state_from_row(row)


_NOTE = text(
    "INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, data, at) "
    "VALUES (:id, :kind, :status, :status, :actor, :reason, CAST(:data AS jsonb), :now)"
)


async def record_event(
    session: AsyncSession,
    order_id: int,
    kind: str,
    actor: str,
    reason: str = "",
    *,
    status: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """An event that is not a status change (review decision, cancel request, refund request, late payment)."""
    await session.execute(
        _NOTE,
        {
            "id": order_id,
            "kind": kind,
            "status": status,
            "actor": actor[:64],
            "reason": reason[:300],
            "data": json.dumps(dict(data), default=str) if data else None,
            "now": clock.now(),
        },
    )
