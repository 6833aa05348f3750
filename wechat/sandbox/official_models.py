"""Sandbox tables (schema `sandbox`) of the simulated official account, OAuth, JS tickets and WeCom."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from core.db import Base

SCHEMA = {"schema": "sandbox"}


class OaAccount(Base):
    """An official account the sandbox plays WeChat for (the settings' account is upserted on use)."""

    __tablename__ = "oa_accounts"
    __table_args__ = SCHEMA

    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    token: Mapped[str] = mapped_column(String(128))
    aes_key: Mapped[str | None] = mapped_column(String(43))
    original_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64), server_default="沙箱公众号")
    message_url: Mapped[str | None] = mapped_column(Text)  # where events go; None → settings.base_url
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class OaKnob(Base):
    """Test knobs (token lifetimes in seconds)."""

    __tablename__ = "oa_knobs"
    __table_args__ = SCHEMA

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class OaCredential(Base):
    """An issued access token / jsapi ticket / WeCom token / OAuth user token."""

    __tablename__ = "oa_credentials"
    __table_args__ = (
        UniqueConstraint("value"),
        Index(None, "kind", "owner", "expires_at"),
        SCHEMA,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # access_token | jsapi_ticket | wecom_token | sns_token
    owner: Mapped[str] = mapped_column(String(128))  # appid, or corpid:agentid for WeCom
    value: Mapped[str] = mapped_column(String(256))
    openid: Mapped[str | None] = mapped_column(String(64))  # sns tokens: whose
    scope: Mapped[str | None] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class OaCredentialFetch(Base):
    """Every call to a token endpoint, so tests can count fetches."""

    __tablename__ = "oa_credential_fetches"
    __table_args__ = (Index(None, "kind", "owner"), SCHEMA)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(128))
    credential_id: Mapped[int | None]
    issued: Mapped[bool] = mapped_column(Boolean)  # a new credential (False: the current one returned)
    at: Mapped[datetime] = mapped_column(default=clock.now)


class OaUser(Base):
    """A simulated WeChat user of one account."""

    __tablename__ = "oa_users"
    __table_args__ = (UniqueConstraint("appid", "openid"), SCHEMA)

    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(String(64))
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64))
    nickname: Mapped[str] = mapped_column(String(64))
    sex: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    city: Mapped[str] = mapped_column(String(64), server_default="")
    following: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    subscribe_scene: Mapped[str | None] = mapped_column(String(128))
    subscribed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    last_interaction_at: Mapped[datetime | None]  # the 48 h customer-service window starts here
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class OaMenu(Base):
    __tablename__ = "oa_menus"
    __table_args__ = SCHEMA

    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    menu: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class OaQrCode(Base):
    __tablename__ = "oa_qrcodes"
    __table_args__ = (Index(None, "appid", "scene_str"), SCHEMA)

    ticket: Mapped[str] = mapped_column(String(128), primary_key=True)
    appid: Mapped[str] = mapped_column(String(64))
    action_name: Mapped[str] = mapped_column(String(32))
    scene_str: Mapped[str | None] = mapped_column(String(64))
    scene_id: Mapped[int | None]
    url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]  # None: permanent
    scans: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class OaTag(Base):
    __tablename__ = "oa_tags"
    __table_args__ = (UniqueConstraint("appid", "name"), SCHEMA)

    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    tag_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))


class OaUserTag(Base):
    __tablename__ = "oa_user_tags"
    __table_args__ = SCHEMA

    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    tag_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class OaMessage(Base):
    """What a user's chat shows: what they sent (in) and what the account sent them (out)."""

    __tablename__ = "oa_messages"
    __table_args__ = (Index(None, "appid", "openid", "id"), Index(None, "kind", "id"), SCHEMA)

    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(String(64))
    openid: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(16))  # text location event | reply template custom mass
    msg_type: Mapped[str] = mapped_column(String(32))  # WeChat's MsgType / Event / msgtype
    summary: Mapped[str] = mapped_column(Text, server_default="")
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    msgid: Mapped[int | None]
    delivery_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class OaDelivery(Base):
    """One message or event pushed to the project's /wechat/message, with its attempts and reply."""

    __tablename__ = "oa_deliveries"
    __table_args__ = (Index(None, "appid", "openid", "id"), SCHEMA)

    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(String(64))
    openid: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    msg_type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8))  # plain | compat | safe
    plain_xml: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # sending ok replied failed bad_reply
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    http_status: Mapped[int | None] = mapped_column(Integer)
    reply_body: Mapped[str | None] = mapped_column(Text)  # as received (maybe encrypted)
    reply_xml: Mapped[str | None] = mapped_column(Text)  # decrypted
    reply_encrypted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]


class OaMassSend(Base):
    """Mass sends, counted against the monthly quota."""

    __tablename__ = "oa_mass_sends"
    __table_args__ = (Index(None, "appid", "created_at"), SCHEMA)

    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(String(64))
    tag_id: Mapped[int | None]
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    recipients: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class OauthCode(Base):
    """An authorize code: single use, 5 minutes."""

    __tablename__ = "oauth_codes"
    __table_args__ = SCHEMA

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    appid: Mapped[str] = mapped_column(String(64))
    openid: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(128), server_default="")
    issued_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WecomMessage(Base):
    """A WeCom app message, one row per staff recipient."""

    __tablename__ = "wecom_messages"
    __table_args__ = (Index(None, "corpid", "touser", "id"), SCHEMA)

    id: Mapped[int] = mapped_column(primary_key=True)
    corpid: Mapped[str] = mapped_column(String(64))
    agentid: Mapped[int]
    touser: Mapped[str] = mapped_column(String(64))
    msgtype: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    msgid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


OFFICIAL_TABLES = [
    OaAccount,
    OaKnob,
    OaCredential,
    OaCredentialFetch,
    OaUser,
    OaMenu,
    OaQrCode,
    OaTag,
    OaUserTag,
    OaMessage,
    OaDelivery,
    OaMassSend,
    OauthCode,
    WecomMessage,
]
