"""Sandbox schema: WeChat Pay v3 orders, refunds, notifies, bills (filled by the WeChat sandbox work).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = "sandbox"


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # 0002 creates the schema too; this keeps 0003 correct on its own.
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.create_table(
        "pay_orders",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("mchid", sa.String(32), nullable=False),
        sa.Column("appid", sa.String(32), nullable=False),
        sa.Column("out_trade_no", sa.String(32), nullable=False),
        sa.Column("trade_type", sa.String(16), nullable=False),
        sa.Column("prepay_id", sa.String(64), nullable=False),
        sa.Column("code_url", sa.String(128)),
        sa.Column("transaction_id", sa.String(32)),
        sa.Column("description", sa.String(127), nullable=False),
        sa.Column("attach", sa.String(128)),
        sa.Column("notify_url", sa.Text(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("payer_openid", sa.String(128)),
        sa.Column("trade_state", sa.String(16), nullable=False),
        sa.Column("trade_state_desc", sa.String(64), nullable=False),
        sa.Column("bank_type", sa.String(32)),
        _ts("time_expire"),
        _ts("success_time"),
        _ts("closed_at"),
        sa.Column("request", postgresql.JSONB(), nullable=False),
        _ts("created_at", False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_pay_orders"),
        sa.UniqueConstraint("mchid", "out_trade_no", name="uq_pay_orders_mchid_out_trade_no"),
        sa.UniqueConstraint("prepay_id", name="uq_pay_orders_prepay_id"),
        sa.UniqueConstraint("code_url", name="uq_pay_orders_code_url"),
        sa.UniqueConstraint("transaction_id", name="uq_pay_orders_transaction_id"),
        schema=SCHEMA,
    )
    op.create_table(
        "pay_refunds",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("mchid", sa.String(32), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("out_refund_no", sa.String(64), nullable=False),
        sa.Column("refund_id", sa.String(32), nullable=False),
        sa.Column("out_trade_no", sa.String(32), nullable=False),
        sa.Column("transaction_id", sa.String(32), nullable=False),
        sa.Column("refund_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(80)),
        sa.Column("notify_url", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        _ts("settle_at"),
        _ts("success_time"),
        sa.Column("user_received_account", sa.String(64), nullable=False),
        _ts("created_at", False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_pay_refunds"),
        sa.ForeignKeyConstraint(
            ["order_id"], [f"{SCHEMA}.pay_orders.id"], name="fk_pay_refunds_order_id_pay_orders", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("mchid", "out_refund_no", name="uq_pay_refunds_mchid_out_refund_no"),
        sa.UniqueConstraint("refund_id", name="uq_pay_refunds_refund_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_pay_refunds_order_id", "pay_refunds", ["order_id"], schema=SCHEMA)
    op.create_index(
        "ix_pay_refunds_settle_at",
        "pay_refunds",
        ["settle_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'PROCESSING'"),
    )
    op.create_table(
        "pay_notifies",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("notify_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("out_trade_no", sa.String(32), nullable=False),
        sa.Column("out_refund_no", sa.String(64)),
        sa.Column("notify_url", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("resource_plain", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("faults", postgresql.JSONB(), nullable=False),
        sa.Column("copies_left", sa.Integer(), nullable=False),
        sa.Column("hold_group", sa.String(32)),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        _ts("created_at", False),
        _ts("delivered_at"),
        sa.PrimaryKeyConstraint("id", name="pk_pay_notifies"),
        sa.UniqueConstraint("notify_id", name="uq_pay_notifies_notify_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_pay_notifies_out_trade_no", "pay_notifies", ["out_trade_no"], schema=SCHEMA)
    op.create_index(
        "ix_pay_notifies_due",
        "pay_notifies",
        ["next_attempt_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "pay_notify_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("notify_pk", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("fault", sa.String(32)),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("response_body", sa.Text()),
        sa.Column("duration_ms", sa.Integer()),
        _ts("at", False),
        sa.PrimaryKeyConstraint("id", name="pk_pay_notify_attempts"),
        sa.ForeignKeyConstraint(
            ["notify_pk"],
            [f"{SCHEMA}.pay_notifies.id"],
            name="fk_pay_notify_attempts_notify_pk_pay_notifies",
            ondelete="CASCADE",
        ),
        schema=SCHEMA,
    )
    op.create_index("ix_pay_notify_attempts_notify_pk", "pay_notify_attempts", ["notify_pk"], schema=SCHEMA)
    op.create_table(
        "pay_faults",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("out_trade_no", sa.String(32)),
        sa.Column("event_type", sa.String(32)),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_pay_faults"),
        schema=SCHEMA,
    )
    op.create_table(
        "pay_config",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", postgresql.JSONB()),
        sa.PrimaryKeyConstraint("key", name="pk_pay_config"),
        schema=SCHEMA,
    )
    op.create_table(
        "pay_bill_files",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("mchid", sa.String(32), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("bill_type", sa.String(16), nullable=False),
        sa.Column("tar_type", sa.String(8)),
        sa.Column("hash_value", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _ts("created_at", False),
        _ts("expires_at", False),
        sa.PrimaryKeyConstraint("token", name="pk_pay_bill_files"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("pay_bill_files", "pay_config", "pay_faults", "pay_notify_attempts", "pay_notifies"):
        op.drop_table(table, schema=SCHEMA)
    op.drop_table("pay_refunds", schema=SCHEMA)
    op.drop_table("pay_orders", schema=SCHEMA)
