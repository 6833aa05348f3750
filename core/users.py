"""Users: staff, finance and admin people who sign in with a password (customers live in shop)."""

from __future__ import annotations

import re

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import BigInteger, Boolean, CheckConstraint, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import AuditMixin, Base
from core.errors import Conflict, InvalidInput, NotAuthenticated

log = structlog.get_logger(__name__)

ROLES = ("staff", "finance", "admin")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps login time the same either way.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class User(AuditMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (CheckConstraint("role IN ('staff', 'finance', 'admin')", name="role"),)


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters")
    return _hasher.hash(password)


async def create_user(
    session: AsyncSession, *, username: str, password: str, role: str, display_name: str = ""
) -> User:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    if not _USERNAME.match(username):
        raise InvalidInput("username must be 3–64 characters: letters, digits, _ . @ -")
    existing = await session.scalar(select(User.id).where(User.username == username))
    if existing:
        raise Conflict(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role, display_name=display_name)
    session.add(user)
    await session.flush()
    log.info("user_created", user_id=user.id, username=username, role=role)
    return user


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        log.info("login_failed", username=username)
        raise NotAuthenticated("wrong username or password")
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)
