"""The dynamic member QR code: a random token valid 60 s, used once, verified by staff of a store to identify the member.

A token is a row (not a signature) so that "used once" is one conditional UPDATE: the first scan sets
used_at, a replay finds it set. Time comes from core.clock, passed to SQL as a parameter.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from shop.members.cards import require_card
from shop.members.errors import MemberCodeRejected, NoMemberCard
from shop.members.models import MemberCodeToken

log = structlog.get_logger(__name__)

TOKEN_TTL = timedelta(seconds=60)
PREFIX = "O2OM:"  # what the QR encodes: PREFIX + token


@dataclass(frozen=True, slots=True)
class IssuedCode:
    token: str
    qr_text: str
    expires_at: datetime
    ttl_seconds: int


async def issue_code(session: AsyncSession, customer_id: int) -> IssuedCode:
    card = await require_card(session, customer_id)
    if not card.active:
        raise NoMemberCard("会员卡已停用")
    now = clock.now()
    token = secrets.token_urlsafe(24)
    await session.execute(
        insert(MemberCodeToken).values(token=token, card_id=card.id, expires_at=now + TOKEN_TTL, created_at=now)
    )
    # Old tokens are no longer needed: keep the table small (their replays still fail: unknown token).
    await session.execute(
        text("DELETE FROM member_code_tokens WHERE card_id = :c AND expires_at < :old"),
        {"c": card.id, "old": now - timedelta(hours=1)},
    )
    return IssuedCode(token, PREFIX + token, now + TOKEN_TTL, int(TOKEN_TTL.total_seconds()))


@dataclass(frozen=True, slots=True)
class VerifiedMember:
    card_id: int
    card_no: str
    customer_id: int
    nickname: str
    phone: str | None
    level_name: str
    discount_pct: int
    points: int
    balance_fen: int


def token_of(scanned: str) -> str:
    token = scanned.strip().removeprefix(PREFIX)
    if not 10 <= len(token) <= 64:
        raise InvalidInput("会员码格式不对，请让顾客刷新会员码后重新扫描")
    return token


async def verify_code(session: AsyncSession, scanned: str, *, store_id: int, user_id: int) -> VerifiedMember:
    """Use a token once: the member it names, or MemberCodeRejected (unknown, expired or already used)."""
    token = token_of(scanned)
    now = clock.now()
    card_id = await session.scalar(
        text(
            "UPDATE member_code_tokens SET used_at = :now, used_by = :u, used_store_id = :s "
            "WHERE token = :t AND used_at IS NULL AND expires_at > :now RETURNING card_id"
        ),
        {"now": now, "u": user_id, "s": store_id, "t": token},
    )
    if card_id is None:
        row = (
            await session.execute(
                text("SELECT used_at, expires_at FROM member_code_tokens WHERE token = :t"), {"t": token}
            )
        ).first()
        if row is None:
            reason = "会员码无效，请让顾客刷新会员码"
        elif row.used_at is not None:
            reason = "会员码已使用过，请让顾客刷新会员码"
        else:
            reason = "会员码已过期（有效期 60 秒），请让顾客刷新会员码"
        log.info("member_code_rejected", store_id=store_id, user_id=user_id, reason=reason)
        raise MemberCodeRejected(reason)
    row = (
        await session.execute(
            text(
                "SELECT c.id, c.card_no, c.customer_id, cu.nickname, cu.phone, l.name, l.discount_pct, c.points, "
                "c.principal_fen + c.bonus_fen FROM member_cards c JOIN customers cu ON cu.id = c.customer_id "
                "JOIN member_levels l ON l.id = c.level_id WHERE c.id = :id"
            ),
            {"id": card_id},
        )
    ).one()
    log.info("member_code_verified", store_id=store_id, user_id=user_id, card_id=card_id)
    return VerifiedMember(*row)
