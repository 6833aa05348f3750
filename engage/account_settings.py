"""Per-account settings admins edit: welcome and fallback texts, template ids per notification purpose."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import InvalidInput
from engage.answer_message import account_texts
from engage.models import AccountTexts, TemplateSetting
from engage.notify_orders import PURPOSES

MAX_TEXT = 600


async def get_texts(session: AsyncSession, account_id: int) -> dict[str, str]:
    welcome, fallback = await account_texts(session, account_id)
    return {"welcome_text": welcome, "fallback_text": fallback}


async def set_texts(
    session: AsyncSession, account_id: int, *, welcome_text: str | None, fallback_text: str | None
) -> dict[str, str]:
    current = await get_texts(session, account_id)
    welcome = current["welcome_text"] if welcome_text is None else welcome_text
    fallback = current["fallback_text"] if fallback_text is None else fallback_text
    for name, value in (("welcome_text", welcome), ("fallback_text", fallback)):
        if not value.strip() or len(value) > MAX_TEXT:
            raise InvalidInput(f"{name} must be 1 to {MAX_TEXT} characters")
    values = {"welcome_text": welcome, "fallback_text": fallback, "updated_at": clock.now()}
    await session.execute(
        pg_insert(AccountTexts)
        .values(account_id=account_id, **values)
        .on_conflict_do_update(index_elements=[AccountTexts.account_id], set_=values)
    )
    return {"welcome_text": welcome, "fallback_text": fallback}


async def get_templates(session: AsyncSession, account_id: int) -> dict[str, str | None]:
    rows = (
        await session.execute(
            select(TemplateSetting.purpose, TemplateSetting.template_id).where(TemplateSetting.account_id == account_id)
        )
    ).all()
    configured = dict(rows)
    return {purpose: configured.get(purpose) for purpose in PURPOSES}


async def set_templates(
    session: AsyncSession, account_id: int, changes: Mapping[str, str | None]
) -> dict[str, str | None]:
    """{purpose: template id}; None removes it (the notification then goes as a customer-service message)."""
    unknown = set(changes) - set(PURPOSES)
    if unknown:
        raise InvalidInput(f"unknown purposes {', '.join(sorted(unknown))}; purposes are {', '.join(PURPOSES)}")
    for purpose, template_id in changes.items():
        if template_id is None:
            await session.execute(
                delete(TemplateSetting).where(
                    TemplateSetting.account_id == account_id, TemplateSetting.purpose == purpose
                )
            )
            continue
        if not isinstance(template_id, str) or not 1 <= len(template_id.strip()) <= 64:
            raise InvalidInput(f"template id of {purpose} must be 1 to 64 characters")
        values = {"template_id": template_id.strip(), "updated_at": clock.now()}
        await session.execute(
            pg_insert(TemplateSetting)
            .values(account_id=account_id, purpose=purpose, **values)
            .on_conflict_do_update(index_elements=[TemplateSetting.account_id, TemplateSetting.purpose], set_=values)
        )
    return await get_templates(session, account_id)
