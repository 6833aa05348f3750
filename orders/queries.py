"""Read models: an order's detail with its timeline, paginated lists for customers, staff and admins, refunds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from core.security import mask_phone
from orders.errors import OrderNotFound, RefundRequestNotFound
from orders.models import STATUSES, Order, OrderEvent, OrderLine, RefundRequest
from orders.schemas import (
    AddressOut,
    OrderEventOut,
    OrderLineOut,
    OrderListItem,
    OrderOut,
    OrderPage,
    RefundOut,
    RefundPage,
)
from orders.status import STAGE_COLUMN, allowed_next
from shop.pagination import check_page

STAGES: dict[str, ColumnElement[bool]] = {
    "new": and_(Order.status.in_(("paid", "reviewing")), Order.ready_for_fulfilment_at.is_not(None)),
    "review": and_(Order.status == "reviewing", Order.review_status == "pending"),
    "active": Order.status.in_(("dispatching", "accepted", "preparing", "ready", "out_for_delivery")),
    "cancel_requests": and_(Order.cancel_requested_at.is_not(None), Order.status != "cancelled"),
    "done": Order.status.in_(("delivered", "picked_up", "completed")),
    "cancelled": Order.status == "cancelled",
    "unpaid": Order.status == "created",
}


async def find_order(session: AsyncSession, public_id: str) -> Order:
    order = await session.scalar(select(Order).where(Order.public_id == public_id))
    if order is None:
        raise OrderNotFound(public_id)
    return order


def _minutes_left(promise_at: datetime, now: datetime) -> int:
    return math.floor((promise_at - now).total_seconds() / 60)


async def order_detail(session: AsyncSession, order: Order, *, for_customer: bool = False) -> OrderOut:
    lines = (
        await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no))
    ).all()
    events = (
        await session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id))
    ).all()
    stages = {s: getattr(order, c) for s, c in STAGE_COLUMN.items() if getattr(order, c) is not None}
    if order.ready_for_fulfilment_at:
        stages["ready_for_fulfilment"] = order.ready_for_fulfilment_at
    address = None
    if order.lat is not None and order.lng is not None:
        # Staff, finance and admin see 138****1234: enough to confirm a customer, not to keep the number.
        phone = order.contact_phone if for_customer else (mask_phone(order.contact_phone) or "")
        address = AddressOut(order.contact_name, phone, order.address_text, order.lat, order.lng)
    return OrderOut(
        id=order.public_id,
        number=order.number,
        kind=order.kind,
        status=order.status,
        store_id=order.store_id,
        fulfil_store_id=order.fulfil_store_id,
        items_fen=order.items_fen,
        discount_fen=order.discount_fen,
        delivery_fee_fen=order.delivery_fee_fen,
        urgent_fee_fen=order.urgent_fee_fen,
        total_fen=order.total_fen,
        stored_value_fen=order.stored_value_fen,
        cash_due_fen=order.cash_due_fen,
        paid_fen=order.paid_fen,
        refunded_fen=order.refunded_fen,
        address=address,
        distance_m=order.distance_m,
        pickup_at=order.pickup_at,
        promise_at=order.promise_at,
        payment_deadline_at=order.payment_deadline_at,
        needs_review=order.needs_review,
        review_status=order.review_status,
        review_reason=order.review_reason,
        prescription_url=order.prescription_url,
        cancel_reason=order.cancel_reason,
        cancel_requested=order.cancel_requested_at is not None and order.status != "cancelled",
        cancel_request_reason=order.cancel_request_reason,
        note=order.note,
        stages=stages,
        lines=[
            OrderLineOut(
                x.line_no,
                x.sku_id,
                x.title,
                x.spec,
                x.qty,
                x.unit_price_fen,
                x.line_fen,
                x.discount_fen,
                x.prescription_required,
                x.refunded_qty,
            )
            for x in lines
        ],
        timeline=[OrderEventOut(e.kind, e.from_status, e.to_status, e.actor, e.reason, e.at, e.data) for e in events],
        handoff_code=order.handoff_code if for_customer else None,
        allowed_next=[] if for_customer else list(allowed_next(order.kind, order.status)),
    )


async def list_orders(
    session: AsyncSession,
    *,
    page: int = 1,
    page_size: int = 20,
    customer_id: int | None = None,
    store_ids: Sequence[int] | None = None,
    stage: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    number: str | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    oldest_first: bool = False,
) -> OrderPage:
    """Orders newest first (oldest first for work queues), filtered; `store_ids` matches selling or fulfilling store."""
    limit, offset = check_page(page, page_size)
    where: list[Any] = []
    if customer_id is not None:
        where.append(Order.customer_id == customer_id)
    if store_ids is not None:
        where.append(or_(Order.store_id.in_(store_ids), Order.fulfil_store_id.in_(store_ids)))
    if stage is not None and stage != "all":
        if stage not in STAGES:
            raise InvalidInput(f"stage must be one of all, {', '.join(STAGES)}")
        where.append(STAGES[stage])
    if status is not None:
        wanted = [s.strip() for s in status.split(",") if s.strip()]
        bad = [s for s in wanted if s not in STATUSES]
        if bad:
            raise InvalidInput(f"unknown status {', '.join(bad)}; statuses are {', '.join(STATUSES)}")
        where.append(Order.status.in_(wanted))
    if kind is not None:
        if kind not in ("pickup", "delivery", "urgent"):
            raise InvalidInput("kind must be pickup, delivery or urgent")
        where.append(Order.kind == kind)
    if number:
        where.append(Order.number.startswith(number.strip(), autoescape=True))
    if placed_from is not None:
        where.append(Order.placed_at >= placed_from)
    if placed_to is not None:
        where.append(Order.placed_at < placed_to)
    item_count = (
        select(func.coalesce(func.sum(OrderLine.qty), 0)).where(OrderLine.order_id == Order.id).scalar_subquery()
    )
    first_title = (
        select(OrderLine.title).where(OrderLine.order_id == Order.id).order_by(OrderLine.line_no).limit(1)
    ).scalar_subquery()
    order_by = (Order.id.asc(),) if oldest_first else (Order.id.desc(),)
    rows = (
        await session.execute(
            select(Order, item_count.label("item_count"), first_title.label("first_title"))
            .where(*where)
            .order_by(*order_by)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    total = await session.scalar(select(func.count()).select_from(Order).where(*where))
    now = clock.now()
    items = [
        OrderListItem(
            id=o.public_id,
            number=o.number,
            kind=o.kind,
            status=o.status,
            store_id=o.store_id,
            fulfil_store_id=o.fulfil_store_id,
            total_fen=o.total_fen,
            item_count=int(count),
            first_title=title or "",
            placed_at=o.placed_at,
            promise_at=o.promise_at,
            needs_review=o.needs_review,
            review_status=o.review_status,
            cancel_requested=o.cancel_requested_at is not None and o.status != "cancelled",
            minutes_left=_minutes_left(o.promise_at, now) if o.status not in ("completed", "cancelled") else None,
        )
        for o, count, title in rows
    ]
    return OrderPage(items, int(total or 0), page, page_size)


def refund_out(r: RefundRequest, order: Order) -> RefundOut:
    return RefundOut(
        id=r.public_id,
        order_id=order.public_id,
        order_number=order.number,
        status=r.status,
        whole_order=r.whole_order,
        lines=r.lines,
        amount_fen=r.amount_fen,
        reason=r.reason,
        photo_urls=list(r.photo_urls),
        requested_at=r.requested_at,
        decided_by=r.decided_by,
        decision_reason=r.decision_reason,
        decided_at=r.decided_at,
        goods_returned=r.goods_returned,
    )


async def find_refund(session: AsyncSession, public_id: str) -> tuple[RefundRequest, Order]:
    row = (
        await session.execute(
            select(RefundRequest, Order)
            .join(Order, Order.id == RefundRequest.order_id)
            .where(RefundRequest.public_id == public_id)
        )
    ).first()
    if row is None:
        raise RefundRequestNotFound(public_id)
    return row[0], row[1]


async def list_refunds(
    session: AsyncSession,
    *,
    page: int = 1,
    page_size: int = 20,
    order_id: int | None = None,
    store_ids: Sequence[int] | None = None,
    status: str | None = None,
) -> RefundPage:
    limit, offset = check_page(page, page_size)
    where: list[Any] = []
    if order_id is not None:
        where.append(RefundRequest.order_id == order_id)
    if store_ids is not None:
        where.append(or_(Order.store_id.in_(store_ids), Order.fulfil_store_id.in_(store_ids)))
    if status is not None:
        if status not in ("requested", "approved", "rejected", "refunded"):
            raise InvalidInput("status must be requested, approved, rejected or refunded")
        where.append(RefundRequest.status == status)
    base = select(RefundRequest, Order).join(Order, Order.id == RefundRequest.order_id).where(*where)
    rows = (await session.execute(base.order_by(RefundRequest.id.desc()).limit(limit).offset(offset))).all()
    total = await session.scalar(
        select(func.count()).select_from(RefundRequest).join(Order, Order.id == RefundRequest.order_id).where(*where)
    )
    return RefundPage([refund_out(r, o) for r, o in rows], int(total or 0), page, page_size)
