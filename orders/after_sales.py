"""After-sales: refund requests on handed-over orders (whole or some lines), decided by staff or admin.

Approval publishes RefundApproved (payments pays it out), returns the goods to stock when they came
back, and gives the coupon back when the whole order is refunded. Amounts come from the lines' paid
shares (orders.pricing.refund_share_fen), so refunding every line unit by unit never exceeds what was paid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from core.events import RefundApproved, publish
from core.ids import new_token
from orders.errors import RefundNotAllowed, RefundRequestNotFound
from orders.pricing import PricedLine, refund_share_fen
from orders.pricing_seams import release_coupon
from orders.status import load_state, record_event
from shop.services import get_reservation, return_stock

log = structlog.get_logger(__name__)

REFUNDABLE = frozenset({"delivered", "picked_up", "completed"})
REFUND_WINDOW_DAYS = 15
MAX_PHOTOS = 9


@dataclass(frozen=True, slots=True)
class RefundLine:
    sku_id: int
    qty: int


@dataclass(frozen=True, slots=True)
class Refund:
    id: int
    public_id: str
    order_id: int
    status: str
    whole_order: bool
    lines: list[dict[str, int]]
    amount_fen: int
    reason: str


_LOCK_ORDER = text(
    "SELECT paid_fen + stored_value_fen AS paid, refunded_fen, coalesce(delivered_at, picked_up_at) AS handed_at "
    "FROM orders WHERE id = :id FOR UPDATE"
)
_LINES = text(
    "SELECT line_no, sku_id, qty, unit_price_fen, line_fen, discount_fen, refunded_qty FROM order_lines "
    "WHERE order_id = :id ORDER BY line_no"
)
_OPEN = text("SELECT public_id FROM refund_requests WHERE order_id = :id AND status = 'requested'")
_INSERT = text(
    """
    INSERT INTO refund_requests (public_id, order_id, status, whole_order, lines, amount_fen, reason, photo_urls,
                                 requested_by, requested_at, goods_returned)
    VALUES (:public_id, :order_id, 'requested', :whole, CAST(:lines AS jsonb), :amount, :reason,
            CAST(:photos AS varchar[]), :actor, :now, false)
    RETURNING id
    """
)


def _check_text(reason: str, photo_urls: Sequence[str]) -> str:
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= 300:
        raise InvalidInput("say what went wrong (1–300 characters)")
    if len(photo_urls) > MAX_PHOTOS:
        raise InvalidInput(f"at most {MAX_PHOTOS} photos")
    for url in photo_urls:
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 500:
            raise InvalidInput("each photo must be an http(s) URL of at most 500 characters")
    return reason


async def request_refund(
    session: AsyncSession,
    order_id: int,
    actor: str,
    reason: str,
    *,
    lines: Sequence[RefundLine] | None = None,
    photo_urls: Sequence[str] = (),
) -> Refund:
    """Ask for money back: `lines=None` for the whole order (what is left of it), else these SKUs and quantities."""
    reason = _check_text(reason, photo_urls)
    order = await load_state(session, order_id)
    if order.status not in REFUNDABLE:
        raise RefundNotAllowed(
            f"order {order.number} is {order.status}; refunds are asked for once it has been delivered or "
            "picked up (before that, cancel it)"
        )
    locked = (await session.execute(_LOCK_ORDER, {"id": order_id})).one()
    if locked.handed_at is not None and clock.now() > locked.handed_at + timedelta(days=REFUND_WINDOW_DAYS):
        raise RefundNotAllowed(
            f"refunds are possible for {REFUND_WINDOW_DAYS} days after delivery; this order is older"
        )
    open_one = await session.scalar(_OPEN, {"id": order_id})
    if open_one is not None:
        raise RefundNotAllowed(f"refund request {open_one} for this order is still open; wait for its decision")
    left = locked.paid - locked.refunded_fen
    rows = (await session.execute(_LINES, {"id": order_id})).all()
    by_sku = {r.sku_id: r for r in rows}
    if lines is None:
        chosen = [{"line_no": r.line_no, "sku_id": r.sku_id, "qty": r.qty - r.refunded_qty} for r in rows]
        chosen = [c for c in chosen if c["qty"] > 0]
        amount = left
    else:
        if not lines:
            raise InvalidInput("name at least one line, or leave lines out to refund the whole order")
        chosen, amount, seen = [], 0, set()
        for want in lines:
            row = by_sku.get(want.sku_id)
            if row is None:
                raise InvalidInput(f"SKU {want.sku_id} is not in order {order.number}")
            if want.sku_id in seen:
                raise InvalidInput(f"SKU {want.sku_id} appears twice")
            seen.add(want.sku_id)
            remaining = row.qty - row.refunded_qty
            if isinstance(want.qty, bool) or not isinstance(want.qty, int) or not 1 <= want.qty <= remaining:
                raise InvalidInput(f"SKU {want.sku_id}: you can ask back 1 to {remaining} units, not {want.qty}")
            line = PricedLine(row.unit_price_fen, row.qty, row.line_fen, row.discount_fen)
            amount += refund_share_fen(line, want.qty, row.refunded_qty)
            chosen.append({"line_no": row.line_no, "sku_id": row.sku_id, "qty": want.qty})
        amount = min(amount, left)
    if amount <= 0:
        raise RefundNotAllowed(f"nothing is left to refund on order {order.number}")
    public_id = new_token(12)
    refund_id = await session.scalar(
        _INSERT,
        {
            "public_id": public_id,
            "order_id": order_id,
            "whole": lines is None,
            "lines": json.dumps(chosen),
            "amount": amount,
            "reason": reason,
            "photos": list(photo_urls),
            "actor": actor[:64],
            "now": clock.now(),
        },
    )
    await record_event(
        session,
        order_id,
        "refund_requested",
        actor,
        reason,
        status=order.status,
        data={"refund": public_id, "amount_fen": amount},
    )
    log.info("refund_requested", order_id=order_id, refund=public_id, amount_fen=amount)
    return Refund(int(refund_id), public_id, order_id, "requested", lines is None, chosen, amount, reason)


_DECIDE = text(
    """
    UPDATE refund_requests SET status = :status, decided_by = :actor, decision_reason = :reason, decided_at = :now,
        goods_returned = :goods_returned
    WHERE id = :id AND status = 'requested'
    RETURNING id, public_id, order_id, status, whole_order, lines, amount_fen, reason
    """
)
_APPLY_TO_ORDER = text(
    """
    WITH o AS (
        UPDATE orders SET refunded_fen = refunded_fen + :amount, updated_at = :now
        WHERE id = :order_id AND refunded_fen + :amount <= paid_fen + stored_value_fen
        RETURNING id, refunded_fen = paid_fen + stored_value_fen AS refunded_all
    ), l AS (
        UPDATE order_lines ol SET refunded_qty = ol.refunded_qty + x.qty
        FROM o, unnest(CAST(:line_nos AS int[]), CAST(:qtys AS int[])) AS x(line_no, qty)
        WHERE ol.order_id = o.id AND ol.line_no = x.line_no
    )
    SELECT id, refunded_all FROM o
    """
)


async def decide_refund(
    session: AsyncSession, refund_id: int, approve: bool, actor: str, reason: str = "", *, goods_returned: bool = False
) -> Refund:
    reason = (reason or "").strip()
    if not approve and not reason:
        raise InvalidInput("say why the refund is rejected; the customer sees the reason")
    row = (
        await session.execute(
            _DECIDE,
            {
                "id": refund_id,
                "status": "approved" if approve else "rejected",
                "actor": actor[:64],
                "reason": reason[:300],
                "now": clock.now(),
                "goods_returned": bool(approve and goods_returned),
            },
        )
    ).first()
    if row is None:
        found = await session.scalar(text("SELECT status FROM refund_requests WHERE id = :id"), {"id": refund_id})
        if found is None:
            raise RefundRequestNotFound(refund_id)
        raise RefundNotAllowed(f"this refund request is already {found}")
    refund = Refund(*row)
    await record_event(
        session,
        refund.order_id,
        "refund_" + refund.status,
        actor,
        reason,
        data={"refund": refund.public_id, "amount_fen": refund.amount_fen},
    )
    if approve:
        await _approve(session, refund, goods_returned)
    log.info("refund_decided", refund=refund.public_id, status=refund.status, amount_fen=refund.amount_fen)
    return refund


async def _approve(session: AsyncSession, refund: Refund, goods_returned: bool) -> None:
    lines: list[dict[str, Any]] = refund.lines
    hit = (
        await session.execute(
            _APPLY_TO_ORDER,
            {
                "order_id": refund.order_id,
                "amount": refund.amount_fen,
                "now": clock.now(),
                "line_nos": [x["line_no"] for x in lines],
                "qtys": [x["qty"] for x in lines],
            },
        )
    ).first()
    if hit is None:
        raise RefundNotAllowed("this refund would give back more than the order paid; it was not approved")
    if goods_returned and lines:
        ref = f"order:{refund.order_id}"
        held = await get_reservation(session, ref)
        if held is not None and held.status == "committed":
            await return_stock(
                session, ref, [(x["sku_id"], x["qty"]) for x in lines], return_ref=f"refund:{refund.public_id}"
            )
    if refund.whole_order or hit.refunded_all:  # everything paid comes back: so does the coupon
        await release_coupon(session, refund.order_id)
    await publish(session, RefundApproved(order_id=refund.order_id, refund_id=refund.id, amount_fen=refund.amount_fen))


_REFUNDED = text(
    "UPDATE refund_requests SET status = 'refunded', refunded_at = :now "
    "WHERE id = :id AND order_id = :order_id AND amount_fen = :amount AND status = 'approved'"
)


async def mark_refunded(session: AsyncSession, refund_id: int, order_id: int, amount_fen: int) -> None:
    """Payments paid an approved refund out (RefundSucceeded echoes the request's id, order and amount)."""
    await session.execute(_REFUNDED, {"id": refund_id, "order_id": order_id, "amount": amount_fen, "now": clock.now()})
