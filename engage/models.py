"""Engage tables: followers, received messages (dedupe + inbox), keyword rules, menus, QR codes, templates,
outbound customer messages, pushes, account texts and domain-verification files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

import shop.models  # noqa: F401 - the tables our foreign keys point at
from core import clock
from core.db import Base
from core.users import User  # noqa: F401 - users.id for created_by/handled_by

MESSAGE_STATUSES = ("received", "answered", "deferred")
ANSWERED_BY = ("rule", "intent", "fallback", "none")
MATCH_TYPES = ("exact", "contains", "regex")
REPLY_TYPES = ("text", "news", "link", "coupon", "intent")
QR_KINDS = ("store", "referrer", "campaign")
CHANNELS = ("template", "custom")
OUTBOUND_STATUSES = ("queued", "sent", "failed", "skipped")
PUSH_MODES = ("template", "custom", "mass")
PUSH_STATUSES = ("queued", "sending", "done", "failed")
MENU_STATUSES = ("draft", "publishing", "published", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Follower(Base):
    """A customer's relation to the official account: following or not, the 48 h window, last location."""

    __tablename__ = "engage_followers"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_accounts.id", ondelete="CASCADE"))
    openid: Mapped[str] = mapped_column(String(64))
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    subscribed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    subscribe_scene: Mapped[str | None] = mapped_column(String(64))
    # Opens WeChat's 48 h customer-service window: messages, menu clicks, follows and scans.
    last_interaction_at: Mapped[datetime | None]
    last_lat: Mapped[float | None] = mapped_column(Double)
    last_lng: Mapped[float | None] = mapped_column(Double)
    last_location_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    __table_args__ = (
        UniqueConstraint("account_id", "openid"),
        Index("ix_engage_followers_account_id_subscribed", "account_id", "subscribed"),
    )


class InboundMessage(Base):
    """A message or event WeChat pushed, once per dedupe key (MsgId, or FromUserName+CreateTime+Event)."""

    __tablename__ = "engage_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_accounts.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(160))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    openid: Mapped[str] = mapped_column(String(64))
    msg_type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text, default="")  # text, event key or URL
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="received")
    answered_by: Mapped[str | None] = mapped_column(String(16))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("engage_keyword_rules.id", ondelete="SET NULL"))
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    answered_at: Mapped[datetime | None]
    # The agent inbox: what no rule or intent could answer.
    needs_agent: Mapped[bool] = mapped_column(Boolean, default=False)
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("account_id", "dedupe_key"),
        CheckConstraint(_in("status", MESSAGE_STATUSES), name="status"),
        CheckConstraint(f"answered_by IS NULL OR {_in('answered_by', ANSWERED_BY)}", name="answered_by"),
        Index("ix_engage_messages_account_id_received_at", "account_id", "received_at"),
        Index("ix_engage_messages_customer_id", "customer_id"),
        Index(
            "ix_engage_messages_inbox",
            "account_id",
            "received_at",
            postgresql_where=text("needs_agent AND handled_at IS NULL"),
        ),
    )


class KeywordRule(Base):
    """An auto-reply: exact / contains / regex on the text (or a menu key), highest priority first."""

    __tablename__ = "engage_keyword_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("official_accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100), default="")
    match_type: Mapped[str] = mapped_column(String(8))
    pattern: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    reply_type: Mapped[str] = mapped_column(String(16))
    reply: Mapped[dict[str, Any]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    __table_args__ = (
        CheckConstraint(_in("match_type", MATCH_TYPES), name="match_type"),
        CheckConstraint(_in("reply_type", REPLY_TYPES), name="reply_type"),
        Index("ix_engage_keyword_rules_account_id_priority", "account_id", "priority"),
    )


class Menu(Base):
    """An account's custom menu (WeChat's JSON; relative URLs become absolute when published)."""

    __tablename__ = "engage_menus"

    account_id: Mapped[int] = mapped_column(ForeignKey("official_accounts.id", ondelete="CASCADE"), primary_key=True)
    menu: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    published_version: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    __table_args__ = (CheckConstraint(_in("status", MENU_STATUSES), name="status"),)


class QrCode(Base):
    """A parametric QR code (scene string) for a store, a referrer or a campaign, with its counters."""

    __tablename__ = "engage_qr_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_accounts.id", ondelete="CASCADE"))
    scene: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    referrer_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(100), default="")
    ticket: Mapped[str] = mapped_column(String(256))
    url: Mapped[str] = mapped_column(Text)  # what the QR image encodes
    permanent: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None]
    scans: Mapped[int] = mapped_column(BigInteger, default=0)  # subscribe + SCAN events through it
    subscribes: Mapped[int] = mapped_column(BigInteger, default=0)  # follows through it
    referrals: Mapped[int] = mapped_column(BigInteger, default=0)  # customers first attributed to it
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        UniqueConstraint("account_id", "scene"),
        CheckConstraint(_in("kind", QR_KINDS), name="kind"),
        Index("ix_engage_qr_codes_store_id", "store_id"),
        Index("ix_engage_qr_codes_referrer_customer_id", "referrer_customer_id"),
    )


class TemplateSetting(Base):
    """Which WeChat template id an account uses for a notification purpose (order_paid, …)."""

    __tablename__ = "engage_templates"

    account_id: Mapped[int] = mapped_column(ForeignKey("official_accounts.id", ondelete="CASCADE"), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class AccountTexts(Base):
    """An account's welcome and fallback replies (code defaults when no row)."""

    __tablename__ = "engage_account_texts"

    account_id: Mapped[int] = mapped_column(ForeignKey("official_accounts.id", ondelete="CASCADE"), primary_key=True)
    welcome_text: Mapped[str] = mapped_column(Text)
    fallback_text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Push(Base):
    """A targeted push: a segment, a mode (template / custom / mass by tag) and what was sent."""

    __tablename__ = "engage_pushes"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    segment: Mapped[dict[str, Any]] = mapped_column(JSONB)
    mode: Mapped[str] = mapped_column(String(12))
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    mass_msg_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("mode", PUSH_MODES), name="mode"),
        CheckConstraint(_in("status", PUSH_STATUSES), name="status"),
    )


class Outbound(Base):
    """A message to one customer (template or customer-service), written in the business transaction and
    sent by the worker: the outbox row and the log of what was sent."""

    __tablename__ = "engage_outbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("official_accounts.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    openid: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(12))
    purpose: Mapped[str] = mapped_column(String(32))  # order_paid, agent_reply, deferred_answer, push, …
    ref: Mapped[str] = mapped_column(String(64), default="")  # order id, message id, …
    push_id: Mapped[int | None] = mapped_column(ForeignKey("engage_pushes.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    msgid: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("status", OUTBOUND_STATUSES), name="status"),
        Index("ix_engage_outbound_customer_id", "customer_id"),
        Index("ix_engage_outbound_purpose_ref", "purpose", "ref"),
        Index("ix_engage_outbound_push_id_status", "push_id", "status"),
    )


class VerifyFile(Base):
    """A `MP_verify_<code>.txt` file WeChat fetches from the web root to verify the domain."""

    __tablename__ = "engage_verify_files"

    filename: Mapped[str] = mapped_column(String(100), primary_key=True)
    content: Mapped[str] = mapped_column(String(256))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.now)


ENGAGE_TABLES = [
    Follower,
    InboundMessage,
    KeywordRule,
    Menu,
    QrCode,
    TemplateSetting,
    AccountTexts,
    Push,
    Outbound,
    VerifyFile,
]
