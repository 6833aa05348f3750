"""The shop audit log: who changed which price, stock level or setting, from what to what, and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Index, String, insert
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base

log = structlog.get_logger(__name__)


class AuditEntry(Base):
    __tablename__ = "shop_audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))  # "user:12", "cli", "system"
    actor_role: Mapped[str] = mapped_column(String(16), default="")
    action: Mapped[str] = mapped_column(String(50))  # "price.set", "stock.adjust", "store.update", …
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[int | None]
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime]

    __table_args__ = (
        Index("ix_shop_audit_log_store_id_at", "store_id", "at"),
        Index("ix_shop_audit_log_entity_entity_id", "entity", "entity_id"),
    )


class Actor:
    """Who does something: a signed-in user, the CLI, or the system; written into audit and movements."""

    __slots__ = ("label", "role", "user_id")

    def __init__(self, label: str, role: str = "", user_id: int | None = None) -> None:
        self.label = label
        self.role = role
        self.user_id = user_id

    @classmethod
    def user(cls, user_id: int, role: str) -> Actor:
        return cls(f"user:{user_id}", role, user_id)

    def __repr__(self) -> str:
        return f"Actor({self.label!r}, {self.role!r})"


SYSTEM = Actor("system", "system")
CLI = Actor("cli", "admin")


async def record_audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    *,
    store_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> None:
    await session.execute(
        insert(AuditEntry).values(
            actor=actor.label,
            actor_role=actor.role,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            store_id=store_id,
            before=before,
            after=after,
            reason=reason[:200],
            at=clock.now(),
        )
    )
    log.info("shop_audit", action=action, entity=entity, entity_id=str(entity_id), actor=actor.label)
