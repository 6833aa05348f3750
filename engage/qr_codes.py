"""Parametric QR codes per store, referrer or campaign: created once through qrcode/create (permanent
string scenes), listed with their counters, and drawn as PNG for the console and printing."""

from __future__ import annotations

import io

import qrcode
import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.db import unit_of_work
from core.errors import InvalidInput, NotFound
from engage.accounts import Account, client_for
from engage.models import QrCode
from engage.scenes import campaign_scene, referrer_scene, store_scene
from shop.services import get_customer, get_store

log = structlog.get_logger(__name__)

STORE_QR_JOB = "engage.ensure_store_qr"  # the seed asks the worker for every store's code


def scene_for(
    kind: str, *, store_id: int | None = None, referrer_customer_id: int | None = None, campaign: str | None = None
) -> str:
    if kind == "store" and store_id is not None:
        return store_scene(store_id)
    if kind == "referrer" and referrer_customer_id is not None:
        return referrer_scene(referrer_customer_id)
    if kind == "campaign" and campaign:
        try:
            return campaign_scene(campaign)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    raise InvalidInput("give store_id for a store code, referrer_customer_id for a referrer, campaign for a campaign")


async def _existing(session: AsyncSession, account_id: int, scene: str) -> QrCode | None:
    return await session.scalar(select(QrCode).where(QrCode.account_id == account_id, QrCode.scene == scene))


async def ensure_qr_code(
    account: Account,
    kind: str,
    *,
    store_id: int | None = None,
    referrer_customer_id: int | None = None,
    campaign: str | None = None,
    label: str = "",
) -> QrCode:
    """The code of this store/referrer/campaign, created at WeChat the first time (outside any transaction)."""
    scene = scene_for(kind, store_id=store_id, referrer_customer_id=referrer_customer_id, campaign=campaign)
    async with unit_of_work() as session:
        found = await _existing(session, account.id, scene)
        if found is not None:
            return found
        if store_id is not None:
            label = label or (await get_store(session, store_id)).name
        if referrer_customer_id is not None:
            referrer = await get_customer(session, referrer_customer_id)
            if referrer.account_id != account.id:
                raise NotFound(f"customer {referrer_customer_id} does not follow this account")
            label = label or referrer.nickname or f"顾客 {referrer.id}"
    ticket = await client_for(account).create_qrcode(scene, permanent=True)
    async with unit_of_work() as session:
        await session.execute(
            pg_insert(QrCode)
            .values(
                account_id=account.id,
                scene=scene,
                kind=kind,
                store_id=store_id,
                referrer_customer_id=referrer_customer_id,
                label=(label or scene)[:100],
                ticket=ticket.ticket,
                url=ticket.url,
                permanent=True,
                expires_at=None,
                scans=0,
                subscribes=0,
                referrals=0,
                created_at=clock.now(),
            )
            .on_conflict_do_nothing(index_elements=[QrCode.account_id, QrCode.scene])
        )
        row = await _existing(session, account.id, scene)
        assert row is not None
    log.info("qr_code_created", account_id=account.id, scene=scene, qr_id=row.id)
    return row


async def list_qr_codes(
    session: AsyncSession, account_id: int, *, kind: str | None = None, store_ids: list[int] | None = None
) -> list[QrCode]:
    q = select(QrCode).where(QrCode.account_id == account_id)
    if kind:
        q = q.where(QrCode.kind == kind)
    if store_ids is not None:
        q = q.where(QrCode.store_id.in_(store_ids))
    return list((await session.scalars(q.order_by(QrCode.kind, QrCode.id))).all())


async def get_qr_code(session: AsyncSession, qr_id: int) -> QrCode:
    row = await session.get(QrCode, qr_id)
    if row is None:
        raise NotFound(f"QR code {qr_id} does not exist")
    return row


def qr_png(content: str, box_size: int = 10) -> bytes:
    """The QR image of what WeChat encoded (its `url`): the same picture showqrcode serves."""
    img = qrcode.make(content, box_size=box_size, border=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
