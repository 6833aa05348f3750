"""Delivery: dispatches, offers, rings, SLA stages, handoff codes, audit (filled by the dispatch work).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True, server_default: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=sa.func.now() if server_default else None
    )


def upgrade() -> None:
    op.create_table(
        "dispatches",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ring", sa.SmallInteger(), nullable=False),
        sa.Column("origin_store_id", sa.BigInteger(), nullable=False),
        sa.Column("accepted_store_id", sa.BigInteger()),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lng", sa.Double(), nullable=False),
        sa.Column("lines", postgresql.JSONB(), nullable=False),
        sa.Column("fallback", sa.String(16)),
        sa.Column("courier_user_id", sa.BigInteger()),
        sa.Column("proof_photo_url", sa.String(500)),
        sa.Column("risk_level", sa.SmallInteger(), nullable=False),
        _ts("paid_at", nullable=False),
        _ts("promise_at", nullable=False),
        _ts("ready_at", nullable=False),
        _ts("first_offer_at"),
        _ts("accepted_at"),
        _ts("preparing_at"),
        _ts("out_for_delivery_at"),
        _ts("delivered_at"),
        _ts("closed_at"),
        _ts("created_at", nullable=False, server_default=True),
        _ts("updated_at", nullable=False, server_default=True),
        sa.PrimaryKeyConstraint("id", name="pk_dispatches"),
        sa.UniqueConstraint("order_id", name="uq_dispatches_order_id"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_dispatches_order_id_orders", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["origin_store_id"], ["stores.id"], name="fk_dispatches_origin_store_id_stores", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["accepted_store_id"], ["stores.id"], name="fk_dispatches_accepted_store_id_stores", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["courier_user_id"], ["users.id"], name="fk_dispatches_courier_user_id_users", ondelete="SET NULL"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'offering', 'accepted', 'delivered', 'cancelled', 'failed')",
            name=op.f("ck_dispatches_status"),
        ),
        sa.CheckConstraint("fallback IS NULL OR fallback IN ('hq', 'cancelled')", name=op.f("ck_dispatches_fallback")),
        sa.CheckConstraint(
            "status <> 'accepted' OR accepted_store_id IS NOT NULL", name=op.f("ck_dispatches_accepted_store")
        ),
    )
    op.create_index("ix_dispatches_status", "dispatches", ["status"])
    op.create_index(
        "ix_dispatches_accepted_store_id",
        "dispatches",
        ["accepted_store_id"],
        postgresql_where=sa.text("status = 'accepted'"),
    )

    op.create_table(
        "dispatch_offers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dispatch_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("ring", sa.SmallInteger(), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("distance_m", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("sent_at", nullable=False),
        _ts("deadline_at", nullable=False),
        _ts("seen_at"),
        _ts("answered_at"),
        sa.Column("answered_by", sa.BigInteger()),
        sa.Column("decline_reason", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_dispatch_offers"),
        sa.UniqueConstraint("dispatch_id", "store_id", name="uq_dispatch_offers_dispatch_id_store_id"),
        sa.ForeignKeyConstraint(
            ["dispatch_id"], ["dispatches.id"], name="fk_dispatch_offers_dispatch_id_dispatches", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_dispatch_offers_order_id_orders", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_dispatch_offers_store_id_stores", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["users.id"], name="fk_dispatch_offers_answered_by_users", ondelete="SET NULL"
        ),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'declined', 'expired', 'withdrawn')", name=op.f("ck_dispatch_offers_status")
        ),
        sa.CheckConstraint(
            "status <> 'declined' OR decline_reason IS NOT NULL", name=op.f("ck_dispatch_offers_decline_reason")
        ),
    )
    # First claim wins: a second accepted offer for the same order violates this index.
    op.create_index(
        "ix_dispatch_offers_one_accepted",
        "dispatch_offers",
        ["order_id"],
        unique=True,
        postgresql_where=sa.text("status = 'accepted'"),
    )
    op.create_index("ix_dispatch_offers_store_id_status", "dispatch_offers", ["store_id", "status"])

    op.create_table(
        "dispatch_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("dispatch_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("store_id", sa.BigInteger()),
        sa.Column("offer_id", sa.BigInteger()),
        sa.Column("ring", sa.SmallInteger()),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("data", postgresql.JSONB()),
        _ts("at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dispatch_events"),
        sa.ForeignKeyConstraint(
            ["dispatch_id"], ["dispatches.id"], name="fk_dispatch_events_dispatch_id_dispatches", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_dispatch_events_order_id_id", "dispatch_events", ["order_id", "id"])
    op.create_index("ix_dispatch_events_dispatch_id_kind_at", "dispatch_events", ["dispatch_id", "kind", "at"])

    op.create_table(
        "store_dispatch_state",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("urgent_paused", sa.Boolean(), nullable=False),
        _ts("paused_until"),
        sa.Column("paused_by", sa.String(64)),
        sa.Column("reason", sa.String(200), nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("store_id", name="pk_store_dispatch_state"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_store_dispatch_state_store_id_stores", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("store_dispatch_state")
    op.drop_table("dispatch_events")
    op.drop_table("dispatch_offers")
    op.drop_table("dispatches")
