"""Customer tables: official accounts, WeChat customers (per account and openid), their addresses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Double, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.db import AuditMixin, Base


class OfficialAccount(AuditMixin, Base):
    """An official account (服务号); the default one mirrors the WECHAT_* settings."""

    __tablename__ = "official_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    secret: Mapped[str] = mapped_column(String(128), default="")
    token: Mapped[str] = mapped_column(String(64), default="")
    aes_key: Mapped[str | None] = mapped_column(String(43))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        Index("ix_official_accounts_one_default", "is_default", unique=True, postgresql_where=text("is_default")),
    )


class Customer(AuditMixin, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_accounts.id", ondelete="RESTRICT"))
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64))
    nickname: Mapped[str] = mapped_column(String(64), default="")
    avatar_url: Mapped[str] = mapped_column(String(500), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    referral_scene: Mapped[str | None] = mapped_column(String(64))
    referrer_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    referral_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="SET NULL"))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    last_sign_in_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("account_id", "openid"),
        Index("ix_customers_unionid", "unionid"),
    )


class CustomerAddress(AuditMixin, Base):
    __tablename__ = "customer_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    contact_name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(String(200), default="")
    # From WeChat's getLocation or a map pick (GCJ-02); there is no geocoder offline.
    lat: Mapped[float] = mapped_column(Double)
    lng: Mapped[float] = mapped_column(Double)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        CheckConstraint("lat BETWEEN -90 AND 90", name="lat"),
        CheckConstraint("lng BETWEEN -180 AND 180", name="lng"),
        Index("ix_customer_addresses_customer_id", "customer_id"),
    )
