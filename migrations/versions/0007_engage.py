"""Engage: official-account messages, keyword rules, menus, QR scenes, referrals, notifications, pushes, inbox (filled by the engage work).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=f"fk_{table}_{column}_{referred}", ondelete=ondelete)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "engage_followers",
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        _ts("subscribed_at"),
        _ts("unsubscribed_at"),
        sa.Column("subscribe_scene", sa.String(64)),
        _ts("last_interaction_at"),
        sa.Column("last_lat", sa.Double()),
        sa.Column("last_lng", sa.Double()),
        _ts("last_location_at"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_engage_followers"),
        _fk("engage_followers", "customer_id", "customers.id", "CASCADE"),
        _fk("engage_followers", "account_id", "official_accounts.id", "CASCADE"),
        sa.UniqueConstraint("account_id", "openid", name="uq_engage_followers_account_id_openid"),
    )
    op.create_index("ix_engage_followers_account_id_subscribed", "engage_followers", ["account_id", "subscribed"])

    op.create_table(
        "engage_keyword_rules",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger()),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("match_type", sa.String(8), nullable=False),
        sa.Column("pattern", sa.String(200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("reply_type", sa.String(16), nullable=False),
        sa.Column("reply", postgresql.JSONB(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_engage_keyword_rules"),
        _fk("engage_keyword_rules", "account_id", "official_accounts.id", "CASCADE"),
        sa.CheckConstraint(
            _in("match_type", ("exact", "contains", "regex")), name=op.f("ck_engage_keyword_rules_match_type")
        ),
        sa.CheckConstraint(
            _in("reply_type", ("text", "news", "link", "coupon", "intent")),
            name=op.f("ck_engage_keyword_rules_reply_type"),
        ),
    )
    op.create_index("ix_engage_keyword_rules_account_id_priority", "engage_keyword_rules", ["account_id", "priority"])

    op.create_table(
        "engage_messages",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("dedupe_key", sa.String(160), nullable=False),
        sa.Column("customer_id", sa.BigInteger()),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("msg_type", sa.String(32), nullable=False),
        sa.Column("event", sa.String(32)),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("fields", postgresql.JSONB(), nullable=False),
        _ts("received_at", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answered_by", sa.String(16)),
        sa.Column("rule_id", sa.BigInteger()),
        sa.Column("reply", postgresql.JSONB()),
        _ts("answered_at"),
        sa.Column("needs_agent", sa.Boolean(), nullable=False),
        _ts("handled_at"),
        sa.Column("handled_by", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_engage_messages"),
        _fk("engage_messages", "account_id", "official_accounts.id", "CASCADE"),
        _fk("engage_messages", "customer_id", "customers.id", "SET NULL"),
        _fk("engage_messages", "rule_id", "engage_keyword_rules.id", "SET NULL"),
        _fk("engage_messages", "handled_by", "users.id", "SET NULL"),
        sa.UniqueConstraint("account_id", "dedupe_key", name="uq_engage_messages_account_id_dedupe_key"),
        sa.CheckConstraint(_in("status", ("received", "answered", "deferred")), name=op.f("ck_engage_messages_status")),
        sa.CheckConstraint(
            "answered_by IS NULL OR " + _in("answered_by", ("rule", "intent", "fallback", "none")),
            name=op.f("ck_engage_messages_answered_by"),
        ),
    )
    op.create_index("ix_engage_messages_account_id_received_at", "engage_messages", ["account_id", "received_at"])
    op.create_index("ix_engage_messages_customer_id", "engage_messages", ["customer_id"])
    op.create_index(
        "ix_engage_messages_inbox",
        "engage_messages",
        ["account_id", "received_at"],
        postgresql_where=sa.text("needs_agent AND handled_at IS NULL"),
    )

    op.create_table(
        "engage_menus",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("menu", postgresql.JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("published_version", sa.Integer()),
        _ts("published_at"),
        sa.Column("error", sa.Text()),
        sa.Column("updated_by", sa.BigInteger()),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_engage_menus"),
        _fk("engage_menus", "account_id", "official_accounts.id", "CASCADE"),
        _fk("engage_menus", "updated_by", "users.id", "SET NULL"),
        sa.CheckConstraint(
            _in("status", ("draft", "publishing", "published", "failed")), name=op.f("ck_engage_menus_status")
        ),
    )

    op.create_table(
        "engage_qr_codes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("scene", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("store_id", sa.BigInteger()),
        sa.Column("referrer_customer_id", sa.BigInteger()),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("ticket", sa.String(256), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        _ts("expires_at"),
        sa.Column("scans", sa.BigInteger(), nullable=False),
        sa.Column("subscribes", sa.BigInteger(), nullable=False),
        sa.Column("referrals", sa.BigInteger(), nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_engage_qr_codes"),
        _fk("engage_qr_codes", "account_id", "official_accounts.id", "CASCADE"),
        _fk("engage_qr_codes", "store_id", "stores.id", "CASCADE"),
        _fk("engage_qr_codes", "referrer_customer_id", "customers.id", "CASCADE"),
        sa.UniqueConstraint("account_id", "scene", name="uq_engage_qr_codes_account_id_scene"),
        sa.CheckConstraint(_in("kind", ("store", "referrer", "campaign")), name=op.f("ck_engage_qr_codes_kind")),
    )
    op.create_index("ix_engage_qr_codes_store_id", "engage_qr_codes", ["store_id"])
    op.create_index("ix_engage_qr_codes_referrer_customer_id", "engage_qr_codes", ["referrer_customer_id"])

    op.create_table(
        "engage_templates",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("template_id", sa.String(64), nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("account_id", "purpose", name="pk_engage_templates"),
        _fk("engage_templates", "account_id", "official_accounts.id", "CASCADE"),
    )

    op.create_table(
        "engage_account_texts",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("welcome_text", sa.Text(), nullable=False),
        sa.Column("fallback_text", sa.Text(), nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_engage_account_texts"),
        _fk("engage_account_texts", "account_id", "official_accounts.id", "CASCADE"),
    )

    op.create_table(
        "engage_pushes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("segment", postgresql.JSONB(), nullable=False),
        sa.Column("mode", sa.String(12), nullable=False),
        sa.Column("content", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("mass_msg_id", sa.BigInteger()),
        sa.Column("error", sa.Text()),
        sa.Column("created_by", sa.BigInteger()),
        _ts("created_at", nullable=False),
        _ts("finished_at"),
        sa.PrimaryKeyConstraint("id", name="pk_engage_pushes"),
        _fk("engage_pushes", "account_id", "official_accounts.id", "CASCADE"),
        _fk("engage_pushes", "created_by", "users.id", "SET NULL"),
        sa.CheckConstraint(_in("mode", ("template", "custom", "mass")), name=op.f("ck_engage_pushes_mode")),
        sa.CheckConstraint(
            _in("status", ("queued", "sending", "done", "failed")), name=op.f("ck_engage_pushes_status")
        ),
    )

    op.create_table(
        "engage_outbound",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger()),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("push_id", sa.BigInteger()),
        sa.Column("dedupe_key", sa.String(160)),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("msgid", sa.BigInteger()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_by", sa.BigInteger()),
        _ts("created_at", nullable=False),
        _ts("sent_at"),
        sa.PrimaryKeyConstraint("id", name="pk_engage_outbound"),
        _fk("engage_outbound", "account_id", "official_accounts.id", "CASCADE"),
        _fk("engage_outbound", "customer_id", "customers.id", "SET NULL"),
        _fk("engage_outbound", "push_id", "engage_pushes.id", "CASCADE"),
        _fk("engage_outbound", "created_by", "users.id", "SET NULL"),
        sa.UniqueConstraint("dedupe_key", name="uq_engage_outbound_dedupe_key"),
        sa.CheckConstraint(_in("channel", ("template", "custom")), name=op.f("ck_engage_outbound_channel")),
        sa.CheckConstraint(
            _in("status", ("queued", "sent", "failed", "skipped")), name=op.f("ck_engage_outbound_status")
        ),
    )
    op.create_index("ix_engage_outbound_customer_id", "engage_outbound", ["customer_id"])
    op.create_index("ix_engage_outbound_purpose_ref", "engage_outbound", ["purpose", "ref"])
    op.create_index("ix_engage_outbound_push_id_status", "engage_outbound", ["push_id", "status"])

    op.create_table(
        "engage_verify_files",
        sa.Column("filename", sa.String(100), nullable=False),
        sa.Column("content", sa.String(256), nullable=False),
        sa.Column("uploaded_by", sa.BigInteger()),
        _ts("uploaded_at", nullable=False),
        sa.PrimaryKeyConstraint("filename", name="pk_engage_verify_files"),
        _fk("engage_verify_files", "uploaded_by", "users.id", "SET NULL"),
    )


def downgrade() -> None:
    for table in (
        "engage_verify_files",
        "engage_outbound",
        "engage_pushes",
        "engage_account_texts",
        "engage_templates",
        "engage_qr_codes",
        "engage_menus",
        "engage_messages",
        "engage_keyword_rules",
        "engage_followers",
    ):
        op.drop_table(table)
