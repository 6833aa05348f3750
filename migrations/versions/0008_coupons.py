"""Coupons: templates with a quota counter, customer coupons and their states (member cards are 0010).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True, default: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=sa.func.now() if default else None
    )


def upgrade() -> None:
    op.create_table(
        "coupon_templates",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(64)),
        sa.Column("title", sa.String(60), nullable=False),
        sa.Column("description", sa.String(200), nullable=False, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("threshold_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("off_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("percent_off", sa.Integer()),
        sa.Column("cap_fen", sa.BigInteger()),
        sa.Column("scope", sa.String(16), nullable=False, server_default="all"),
        sa.Column("scope_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False, server_default="{}"),
        _ts("claim_starts_at"),
        _ts("claim_ends_at"),
        _ts("valid_from"),
        _ts("valid_until"),
        sa.Column("valid_days", sa.Integer()),
        sa.Column("total_quota", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("per_customer_limit", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("per_day_limit", sa.Integer()),
        sa.Column("claimable", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("auto_issue", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        _ts("created_at", nullable=False, default=True),
        _ts("updated_at", nullable=False, default=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_templates")),
        sa.UniqueConstraint("code", name=op.f("uq_coupon_templates_code")),
        sa.CheckConstraint(
            "kind IN ('threshold', 'percent', 'cash', 'newcomer', 'free_delivery')", name=op.f("ck_coupon_templates_kind")
        ),
        sa.CheckConstraint(
            "scope IN ('all', 'categories', 'products', 'stores')", name=op.f("ck_coupon_templates_scope")
        ),
        sa.CheckConstraint("status IN ('active', 'paused', 'ended')", name=op.f("ck_coupon_templates_status")),
        sa.CheckConstraint(
            "auto_issue IS NULL OR auto_issue IN ('subscribe')", name=op.f("ck_coupon_templates_auto_issue")
        ),
        sa.CheckConstraint("issued >= 0 AND issued <= total_quota", name=op.f("ck_coupon_templates_quota")),
        sa.CheckConstraint(
            "threshold_fen >= 0 AND off_fen >= 0 AND (cap_fen IS NULL OR cap_fen > 0)",
            name=op.f("ck_coupon_templates_amounts"),
        ),
        sa.CheckConstraint(
            "percent_off IS NULL OR (percent_off BETWEEN 1 AND 99)", name=op.f("ck_coupon_templates_percent_off")
        ),
        sa.CheckConstraint(
            "per_customer_limit >= 1 AND (per_day_limit IS NULL OR per_day_limit >= 1)",
            name=op.f("ck_coupon_templates_limits"),
        ),
        sa.CheckConstraint(
            "(valid_days IS NOT NULL AND valid_days >= 1 AND valid_from IS NULL AND valid_until IS NULL) OR "
            "(valid_days IS NULL AND valid_from IS NOT NULL AND valid_until IS NOT NULL AND valid_from < valid_until)",
            name=op.f("ck_coupon_templates_validity"),
        ),
    )

    op.create_table(
        "customer_coupons",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="available"),
        sa.Column("source", sa.String(16), nullable=False, server_default="claim"),
        sa.Column("order_id", sa.BigInteger()),
        sa.Column("used_store_id", sa.BigInteger()),
        _ts("claimed_at", nullable=False),
        sa.Column("claimed_on", sa.Date(), nullable=False),
        _ts("valid_from", nullable=False),
        _ts("valid_until", nullable=False),
        _ts("locked_at"),
        _ts("used_at"),
        _ts("returned_at"),
        _ts("expired_at"),
        _ts("reminded_at"),
        sa.Column("times_returned", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_coupons")),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_customer_coupons_template_id_coupon_templates"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_coupons_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("code", name=op.f("uq_customer_coupons_code")),
        sa.UniqueConstraint(
            "template_id", "customer_id", "seq", name=op.f("uq_customer_coupons_template_id_customer_id_seq")
        ),
        sa.CheckConstraint(
            "state IN ('available', 'locked', 'used', 'returned', 'expired')", name=op.f("ck_customer_coupons_state")
        ),
        sa.CheckConstraint(
            "source IN ('claim', 'subscribe', 'admin', 'segment', 'apology')", name=op.f("ck_customer_coupons_source")
        ),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_customer_coupons_seq")),
        sa.CheckConstraint(
            "state NOT IN ('locked', 'used') OR order_id IS NOT NULL OR used_store_id IS NOT NULL",
            name=op.f("ck_customer_coupons_holder"),
        ),
    )
    op.create_index("ix_customer_coupons_customer_id_state", "customer_coupons", ["customer_id", "state"])
    op.create_index(
        "ix_customer_coupons_order_id",
        "customer_coupons",
        ["order_id"],
        unique=True,
        postgresql_where=sa.text("state IN ('locked', 'used') AND order_id IS NOT NULL"),
    )
    op.create_index(
        "ix_customer_coupons_valid_until",
        "customer_coupons",
        ["valid_until"],
        postgresql_where=sa.text("state IN ('available', 'returned')"),
    )
    op.create_index("ix_customer_coupons_template_id_state", "customer_coupons", ["template_id", "state"])


def downgrade() -> None:
    op.drop_table("customer_coupons")
    op.drop_table("coupon_templates")
