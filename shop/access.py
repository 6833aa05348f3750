"""Who may see or change which store: every id-bearing management route calls `authorize_store` first.

admin: everything. finance: read everything, change nothing. staff: read and operate (stock, hours)
only the stores they are linked to in store_staff; settings and prices are HQ's (admin).
"""

from __future__ import annotations

from typing import Any, Literal

from litestar.connection import ASGIConnection
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal, require_principal
from core.errors import Forbidden, NotAuthenticated
from core.users import User
from shop.audit import Actor
from shop.errors import not_found
from shop.stores.models import Store, StoreStaff

Action = Literal["read", "operate", "manage"]


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    return require_principal(connection)


def actor_of(principal: Principal) -> Actor:
    return Actor.user(principal.id, principal.role)


async def _user_state(session: AsyncSession, principal: Principal, store_id: int | None) -> tuple[bool, bool]:
    """(the user is still active, the user is linked to the store)."""
    linked: Any = False
    if store_id is not None:
        linked = exists().where(StoreStaff.user_id == principal.id, StoreStaff.store_id == store_id)
    row = (await session.execute(select(User.active, linked).where(User.id == principal.id))).first()
    if row is None:
        return False, False
    return bool(row[0]), bool(row[1])


def _require_user(principal: Principal) -> None:
    if not principal.is_user:
        raise Forbidden("this is for staff, finance and admin users")


async def authorize_store(session: AsyncSession, principal: Principal, store_id: int, action: Action = "read") -> Store:
    """The store, if this user may do `action` on it; NotFound for an unknown id, Forbidden otherwise."""
    _require_user(principal)
    store = await session.get(Store, store_id)
    if store is None:
        raise not_found("store", store_id)
    active, linked = await _user_state(session, principal, store_id)
    if not active:
        raise NotAuthenticated("this account is no longer active; sign in again")
    role = principal.role
    if role == "admin":
        return store
    if action == "manage":
        raise Forbidden("only HQ admins change store settings, listings and prices")
    if role == "finance":
        if action != "read":
            raise Forbidden("finance has read-only access to shop data")
        return store
    if role == "staff" and linked:
        return store
    raise Forbidden(f"you do not work at store {store_id}")


async def require_role(session: AsyncSession, principal: Principal, *roles: str) -> None:
    """For routes without a store id: an active user with one of these roles (admin always passes)."""
    _require_user(principal)
    if principal.role != "admin" and principal.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles) or 'admin'}")
    active, _ = await _user_state(session, principal, None)
    if not active:
        raise NotAuthenticated("this account is no longer active; sign in again")


async def visible_store_ids(session: AsyncSession, principal: Principal) -> list[int] | None:
    """The stores this user may read: None means all (admin, finance)."""
    _require_user(principal)
    if principal.role in ("admin", "finance"):
        return None
    return list((await session.scalars(select(StoreStaff.store_id).where(StoreStaff.user_id == principal.id))).all())
