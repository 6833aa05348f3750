"""Staff, finance and admin accounts as the shop manages them: created through core.users, linked to stores."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import InvalidInput
from core.users import User, create_user
from shop.audit import Actor, record_audit
from shop.errors import not_found
from shop.pagination import Page, check_page
from shop.stores.models import StoreStaff
from shop.stores.services import set_staff_stores


async def create_staff_account(
    session: AsyncSession,
    actor: Actor,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    store_ids: Iterable[int] = (),
) -> tuple[User, list[int]]:
    stores = sorted(set(store_ids))
    if role == "staff" and not stores:
        raise InvalidInput("a staff account needs at least one store")
    if role != "staff" and stores:
        raise InvalidInput(f"{role} accounts are not linked to stores")
    user = await create_user(session, username=username, password=password, role=role, display_name=display_name)
    linked = await set_staff_stores(session, user.id, stores, actor) if stores else []
    await record_audit(session, actor, "user.create", "user", user.id, after={"username": username, "role": role})
    return user, linked


async def set_user_active(session: AsyncSession, user_id: int, active: bool, actor: Actor) -> User:
    """Switch an account off or on (its shop routes refuse it at once; core owns the users table)."""
    user = await session.get(User, user_id)
    if user is None:
        raise not_found("user", user_id)
    if user.active != active:
        user.active = active
        await session.flush()
        await record_audit(
            session, actor, "user.active", "user", user_id, before={"active": not active}, after={"active": active}
        )
    return user


async def users_page(
    session: AsyncSession, *, role: str | None = None, store_id: int | None = None, page: int = 1, page_size: int = 50
) -> Page[tuple[User, list[int]]]:
    limit, offset = check_page(page, page_size)
    q = select(User)
    if role:
        q = q.where(User.role == role)
    if store_id is not None:
        q = q.where(User.id.in_(select(StoreStaff.user_id).where(StoreStaff.store_id == store_id)))
    total = await session.scalar(select(func.count()).select_from(q.subquery())) or 0
    users = list((await session.scalars(q.order_by(User.id).limit(limit).offset(offset))).all())
    links = (
        await session.execute(
            select(StoreStaff.user_id, StoreStaff.store_id).where(StoreStaff.user_id.in_([u.id for u in users]))
        )
    ).all()
    by_user: dict[int, list[int]] = {}
    for uid, sid in links:
        by_user.setdefault(uid, []).append(sid)
    return Page([(u, sorted(by_user.get(u.id, []))) for u in users], total, page, page_size)
