"""Referral attribution: a follow through a store's or a referrer's QR code sets the customer's source (first
touch wins, in shop), and every QR code counts its scans, follows and attributed customers."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput, NotFound
from engage.models import QrCode
from engage.scenes import Scene
from shop.services import get_customer, get_store, record_referral

log = structlog.get_logger(__name__)


async def attribute_scene(
    session: AsyncSession, *, account_id: int, customer_id: int, scene: Scene, subscribed: bool
) -> bool:
    """Count the scan on its QR code and, for a follow, record the referral. True when the customer was
    attributed to this scene now (it is their first source)."""
    store_id = referrer_id = None
    if scene.store_id is not None:
        try:
            store_id = (await get_store(session, scene.store_id)).id
        except NotFound:
            log.info("qr_scene_unknown_store", scene=scene.raw, customer_id=customer_id)
    if scene.referrer_customer_id is not None and scene.referrer_customer_id != customer_id:
        try:
            referrer = await get_customer(session, scene.referrer_customer_id)
            referrer_id = referrer.id if referrer.account_id == account_id else None
        except NotFound:
            log.info("qr_scene_unknown_referrer", scene=scene.raw, customer_id=customer_id)
    first = False
    if subscribed:
        first = await record_referral(
            session, customer_id, scene=scene.raw, referrer_customer_id=referrer_id, store_id=store_id
        )
    await session.execute(
        update(QrCode)
        .where(QrCode.account_id == account_id, QrCode.scene == scene.raw)
        .values(
            scans=QrCode.scans + 1,
            subscribes=QrCode.subscribes + (1 if subscribed else 0),
            referrals=QrCode.referrals + (1 if first else 0),
        )
    )
    if first:
        log.info("customer_referred", customer_id=customer_id, scene=scene.raw, store_id=store_id, referrer=referrer_id)
    return first


async def referral_counts(session: AsyncSession, account_id: int, by: str) -> list[dict[str, Any]]:
    """Per store (by="store") or per referrer (by="referrer"): scans, follows and customers attributed."""
    column = {"store": QrCode.store_id, "referrer": QrCode.referrer_customer_id, "campaign": QrCode.scene}.get(by)
    if column is None:
        raise InvalidInput("by must be store, referrer or campaign")
    rows = (
        await session.execute(
            select(
                column.label("key"),
                func.sum(QrCode.scans).label("scans"),
                func.sum(QrCode.subscribes).label("subscribes"),
                func.sum(QrCode.referrals).label("referrals"),
            )
            .where(QrCode.account_id == account_id, QrCode.kind == by)
            .group_by(column)
            .order_by(func.sum(QrCode.referrals).desc(), column)
        )
    ).all()
    return [
        {"key": r.key, "scans": int(r.scans), "subscribes": int(r.subscribes), "referrals": int(r.referrals)}
        for r in rows
    ]
