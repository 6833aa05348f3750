"""Orders: carts, orders, lines, status events, idempotency keys, prescriptions, after-sales.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATUSES = (
    "'created', 'paid', 'reviewing', 'dispatching', 'accepted', 'preparing', 'ready', "
    "'out_for_delivery', 'delivered', 'picked_up', 'completed', 'cancelled'"
)


def _ts(name: str, *, nullable: bool = True, server_default: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=sa.func.now() if server_default else None
    )


def upgrade() -> None:
    op.execute("CREATE SEQUENCE order_number_seq")

    op.create_table(
        "cart_lines",
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("sku_id", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("price_seen_fen", sa.BigInteger(), nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "store_id", "sku_id", name="pk_cart_lines"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_cart_lines_customer_id_customers", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name="fk_cart_lines_store_id_stores", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name="fk_cart_lines_sku_id_skus", ondelete="CASCADE"),
        sa.CheckConstraint("qty BETWEEN 1 AND 99", name=op.f("ck_cart_lines_qty")),
        sa.CheckConstraint("price_seen_fen >= 0", name=op.f("ck_cart_lines_price_seen_fen")),
    )

    op.create_table(
        "store_order_settings",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_deadline_min", sa.Integer(), nullable=False),
        sa.Column("auto_complete_days", sa.Integer(), nullable=False),
        _ts("updated_at", nullable=False, server_default=True),
        sa.PrimaryKeyConstraint("store_id", name="pk_store_order_settings"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_store_order_settings_store_id_stores", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "payment_deadline_min BETWEEN 1 AND 120", name=op.f("ck_store_order_settings_payment_deadline_min")
        ),
        sa.CheckConstraint("auto_complete_days BETWEEN 1 AND 60", name=op.f("ck_store_order_settings_auto_complete_days")),
    )

    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("fulfil_store_id", sa.BigInteger()),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("items_fen", sa.BigInteger(), nullable=False),
        sa.Column("discount_fen", sa.BigInteger(), nullable=False),
        sa.Column("delivery_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("urgent_fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("stored_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("cash_due_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("coupon_id", sa.BigInteger()),
        sa.Column("member_card_id", sa.BigInteger()),
        sa.Column("contact_name", sa.String(50), nullable=False),
        sa.Column("contact_phone", sa.String(32), nullable=False),
        sa.Column("address_text", sa.String(500), nullable=False),
        sa.Column("lat", sa.Double()),
        sa.Column("lng", sa.Double()),
        sa.Column("distance_m", sa.Integer()),
        _ts("pickup_at"),
        _ts("promise_at", nullable=False),
        _ts("payment_deadline_at", nullable=False),
        sa.Column("handoff_code", sa.String(8), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("prescription_url", sa.String(500)),
        sa.Column("review_status", sa.String(16), nullable=False),
        sa.Column("reviewed_by", sa.String(64)),
        sa.Column("review_reason", sa.String(300)),
        sa.Column("payment_ref", sa.String(64)),
        sa.Column("cancel_reason", sa.String(300)),
        _ts("cancel_requested_at"),
        sa.Column("cancel_request_reason", sa.String(300)),
        _ts("placed_at", nullable=False),
        _ts("paid_at"),
        _ts("reviewing_at"),
        _ts("reviewed_at"),
        _ts("ready_for_fulfilment_at"),
        _ts("dispatching_at"),
        _ts("accepted_at"),
        _ts("preparing_at"),
        _ts("ready_at"),
        _ts("out_for_delivery_at"),
        _ts("delivered_at"),
        _ts("picked_up_at"),
        _ts("completed_at"),
        _ts("cancelled_at"),
        _ts("created_at", nullable=False, server_default=True),
        _ts("updated_at", nullable=False, server_default=True),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("public_id", name="uq_orders_public_id"),
        sa.UniqueConstraint("number", name="uq_orders_number"),
        sa.UniqueConstraint("customer_id", "idempotency_key", name="uq_orders_customer_id_idempotency_key"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_orders_customer_id_customers", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name="fk_orders_store_id_stores", ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["fulfil_store_id"], ["stores.id"], name="fk_orders_fulfil_store_id_stores", ondelete="RESTRICT"
        ),
        sa.CheckConstraint("kind IN ('pickup', 'delivery', 'urgent')", name=op.f("ck_orders_kind")),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_orders_status")),
        sa.CheckConstraint(
            "review_status IN ('none', 'pending', 'approved', 'rejected')", name=op.f("ck_orders_review_status")
        ),
        sa.CheckConstraint(
            "items_fen >= 0 AND discount_fen >= 0 AND delivery_fee_fen >= 0 AND urgent_fee_fen >= 0 "
            "AND stored_value_fen >= 0 AND paid_fen >= 0 AND refunded_fen >= 0",
            name=op.f("ck_orders_amounts"),
        ),
        sa.CheckConstraint("discount_fen <= items_fen", name=op.f("ck_orders_discount_fen")),
        sa.CheckConstraint(
            "total_fen = items_fen - discount_fen + delivery_fee_fen + urgent_fee_fen AND total_fen >= 0",
            name=op.f("ck_orders_total_fen"),
        ),
        sa.CheckConstraint(
            "cash_due_fen = total_fen - stored_value_fen AND cash_due_fen >= 0", name=op.f("ck_orders_cash_due_fen")
        ),
        sa.CheckConstraint("refunded_fen <= paid_fen + stored_value_fen", name=op.f("ck_orders_refunded_fen")),
        sa.CheckConstraint("kind = 'pickup' OR (lat IS NOT NULL AND lng IS NOT NULL)", name=op.f("ck_orders_address")),
        sa.CheckConstraint("NOT needs_review OR prescription_url IS NOT NULL", name=op.f("ck_orders_prescription")),
    )
    op.create_index("ix_orders_customer_id_id", "orders", ["customer_id", "id"])
    op.create_index("ix_orders_store_id_status", "orders", ["store_id", "status"])
    op.create_index("ix_orders_fulfil_store_id_status", "orders", ["fulfil_store_id", "status"])
    op.create_index("ix_orders_status_placed_at", "orders", ["status", "placed_at"])

    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.SmallInteger(), nullable=False),
        sa.Column("sku_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("spec", sa.String(100), nullable=False),
        sa.Column("qty", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("line_fen", sa.BigInteger(), nullable=False),
        sa.Column("discount_fen", sa.BigInteger(), nullable=False),
        sa.Column("prescription_required", sa.Boolean(), nullable=False),
        sa.Column("refunded_qty", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "line_no", name="pk_order_lines"),
        sa.UniqueConstraint("order_id", "sku_id", name="uq_order_lines_order_id_sku_id"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_order_lines_order_id_orders", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name="fk_order_lines_sku_id_skus", ondelete="RESTRICT"),
        sa.CheckConstraint("qty > 0", name=op.f("ck_order_lines_qty")),
        sa.CheckConstraint("unit_price_fen >= 0 AND line_fen = unit_price_fen * qty", name=op.f("ck_order_lines_line_fen")),
        sa.CheckConstraint("discount_fen >= 0 AND discount_fen <= line_fen", name=op.f("ck_order_lines_discount_fen")),
        sa.CheckConstraint("refunded_qty >= 0 AND refunded_qty <= qty", name=op.f("ck_order_lines_refunded_qty")),
    )

    op.create_table(
        "order_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("from_status", sa.String(24)),
        sa.Column("to_status", sa.String(24)),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("data", postgresql.JSONB()),
        _ts("at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_events_order_id_orders", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_order_events_order_id_id", "order_events", ["order_id", "id"])

    op.create_table(
        "refund_requests",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("public_id", sa.String(32), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("whole_order", sa.Boolean(), nullable=False),
        sa.Column("lines", postgresql.JSONB(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("photo_urls", postgresql.ARRAY(sa.String(500)), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        _ts("requested_at", nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decision_reason", sa.String(300)),
        _ts("decided_at"),
        sa.Column("goods_returned", sa.Boolean(), nullable=False),
        _ts("refunded_at"),
        sa.PrimaryKeyConstraint("id", name="pk_refund_requests"),
        sa.UniqueConstraint("public_id", name="uq_refund_requests_public_id"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_refund_requests_order_id_orders", ondelete="RESTRICT"
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'rejected', 'refunded')", name=op.f("ck_refund_requests_status")
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_refund_requests_amount_fen")),
    )
    op.create_index("ix_refund_requests_order_id", "refund_requests", ["order_id"])
    op.create_index(
        "ix_refund_requests_one_open",
        "refund_requests",
        ["order_id"],
        unique=True,
        postgresql_where=sa.text("status = 'requested'"),
    )


def downgrade() -> None:
    for table in ("refund_requests", "order_events", "order_lines", "orders", "store_order_settings", "cart_lines"):
        op.drop_table(table)
    op.execute("DROP SEQUENCE IF EXISTS order_number_seq")
