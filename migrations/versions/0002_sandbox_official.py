"""Sandbox schema: official account, OAuth codes, tokens, users, menus, QR codes, messages, WeCom.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = [
    "oa_accounts",
    "oa_credential_fetches",
    "oa_credentials",
    "oa_deliveries",
    "oa_knobs",
    "oa_mass_sends",
    "oa_menus",
    "oa_messages",
    "oa_qrcodes",
    "oa_tags",
    "oa_user_tags",
    "oa_users",
    "oauth_codes",
    "wecom_messages",
]


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS sandbox")
    op.create_table(
        "oa_accounts",
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("aes_key", sa.String(length=43), nullable=True),
        sa.Column("original_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), server_default="沙箱公众号", nullable=False),
        sa.Column("message_url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("appid", name=op.f("pk_oa_accounts")),
        schema="sandbox",
    )
    op.create_table(
        "oa_credential_fetches",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("credential_id", sa.BigInteger(), nullable=True),
        sa.Column("issued", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oa_credential_fetches")),
        schema="sandbox",
    )
    op.create_index(
        op.f("ix_oa_credential_fetches_kind_owner"),
        "oa_credential_fetches",
        ["kind", "owner"],
        unique=False,
        schema="sandbox",
    )
    op.create_table(
        "oa_credentials",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.String(length=32), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oa_credentials")),
        sa.UniqueConstraint("value", name=op.f("uq_oa_credentials_value")),
        schema="sandbox",
    )
    op.create_index(
        op.f("ix_oa_credentials_kind_owner_expires_at"),
        "oa_credentials",
        ["kind", "owner", "expires_at"],
        unique=False,
        schema="sandbox",
    )
    op.create_table(
        "oa_deliveries",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("msg_type", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("plain_xml", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("reply_body", sa.Text(), nullable=True),
        sa.Column("reply_xml", sa.Text(), nullable=True),
        sa.Column("reply_encrypted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oa_deliveries")),
        schema="sandbox",
    )
    op.create_index(
        op.f("ix_oa_deliveries_appid_openid_id"),
        "oa_deliveries",
        ["appid", "openid", "id"],
        unique=False,
        schema="sandbox",
    )
    op.create_table(
        "oa_knobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_oa_knobs")),
        schema="sandbox",
    )
    op.create_table(
        "oa_mass_sends",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=True),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oa_mass_sends")),
        schema="sandbox",
    )
    op.create_index(
        op.f("ix_oa_mass_sends_appid_created_at"),
        "oa_mass_sends",
        ["appid", "created_at"],
        unique=False,
        schema="sandbox",
    )
    op.create_table(
        "oa_menus",
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("menu", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("appid", name=op.f("pk_oa_menus")),
        schema="sandbox",
    )
    op.create_table(
        "oa_messages",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("msg_type", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("msgid", sa.BigInteger(), nullable=True),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oa_messages")),
        schema="sandbox",
    )
    op.create_index(
        op.f("ix_oa_messages_appid_openid_id"), "oa_messages", ["appid", "openid", "id"], unique=False, schema="sandbox"
    )
    op.create_index(op.f("ix_oa_messages_kind_id"), "oa_messages", ["kind", "id"], unique=False, schema="sandbox")
    op.create_table(
        "oa_qrcodes",
        sa.Column("ticket", sa.String(length=128), nullable=False),
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("action_name", sa.String(length=32), nullable=False),
        sa.Column("scene_str", sa.String(length=64), nullable=True),
        sa.Column("scene_id", sa.BigInteger(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scans", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket", name=op.f("pk_oa_qrcodes")),
        schema="sandbox",
    )
    op.create_index(
        op.f("ix_oa_qrcodes_appid_scene_str"), "oa_qrcodes", ["appid", "scene_str"], unique=False, schema="sandbox"
    )
    op.create_table(
        "oa_tags",
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("appid", "tag_id", name=op.f("pk_oa_tags")),
        sa.UniqueConstraint("appid", "name", name=op.f("uq_oa_tags_appid_name")),
        schema="sandbox",
    )
    op.create_table(
        "oa_user_tags",
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("appid", "openid", "tag_id", name=op.f("pk_oa_user_tags")),
        schema="sandbox",
    )
    op.create_table(
        "oa_users",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("unionid", sa.String(length=64), nullable=True),
        sa.Column("nickname", sa.String(length=64), nullable=False),
        sa.Column("sex", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("city", sa.String(length=64), server_default="", nullable=False),
        sa.Column("following", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("subscribe_scene", sa.String(length=128), nullable=True),
        sa.Column("subscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_interaction_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oa_users")),
        sa.UniqueConstraint("appid", "openid", name=op.f("uq_oa_users_appid_openid")),
        schema="sandbox",
    )
    op.create_table(
        "oauth_codes",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("appid", sa.String(length=64), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=128), server_default="", nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_oauth_codes")),
        schema="sandbox",
    )
    op.create_table(
        "wecom_messages",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("corpid", sa.String(length=64), nullable=False),
        sa.Column("agentid", sa.BigInteger(), nullable=False),
        sa.Column("touser", sa.String(length=64), nullable=False),
        sa.Column("msgtype", sa.String(length=32), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("msgid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wecom_messages")),
        schema="sandbox",
    )
    op.create_index(
        op.f("ix_wecom_messages_corpid_touser_id"),
        "wecom_messages",
        ["corpid", "touser", "id"],
        unique=False,
        schema="sandbox",
    )


def downgrade() -> None:
    # IF EXISTS: the pay sandbox's downgrade (0003) may already have dropped the shared schema.
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS sandbox.{table}")
    op.execute("DROP SCHEMA IF EXISTS sandbox")
