"""Member cards, levels, points, stored value, top-ups (filled by the member work).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True, server_default: bool = False) -> sa.Column:
    if server_default:
        return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=nullable)
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _audit() -> list[sa.Column]:
    return [
        _ts("created_at", nullable=False, server_default=True),
        _ts("updated_at", nullable=False, server_default=True),
    ]


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete)


def _big(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "member_levels",
        _big("id"),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        _big("min_growth_fen"),
        sa.Column("discount_pct", sa.Integer(), nullable=False),
        sa.Column("points_per_yuan", sa.Integer(), nullable=False),
        sa.Column("benefits", postgresql.ARRAY(sa.String(100)), nullable=False),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_levels")),
        sa.UniqueConstraint("code", name=op.f("uq_member_levels_code")),
        sa.UniqueConstraint("min_growth_fen", name=op.f("uq_member_levels_min_growth_fen")),
        sa.CheckConstraint("min_growth_fen >= 0", name=op.f("ck_member_levels_min_growth_fen")),
        sa.CheckConstraint("discount_pct BETWEEN 0 AND 30", name=op.f("ck_member_levels_discount_pct")),
        sa.CheckConstraint("points_per_yuan BETWEEN 0 AND 100", name=op.f("ck_member_levels_points_per_yuan")),
    )
    op.create_table(
        "member_cards",
        _big("id"),
        sa.Column("card_no", sa.String(20), nullable=False),
        _big("customer_id"),
        _big("level_id"),
        _big("growth_fen"),
        _big("points"),
        _big("principal_fen"),
        _big("bonus_fen"),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_cards")),
        sa.UniqueConstraint("card_no", name=op.f("uq_member_cards_card_no")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_member_cards_customer_id")),
        _fk("member_cards", "customer_id", "customers.id", "RESTRICT"),
        _fk("member_cards", "level_id", "member_levels.id", "RESTRICT"),
        sa.CheckConstraint("growth_fen >= 0", name=op.f("ck_member_cards_growth_fen")),
        sa.CheckConstraint("points >= 0", name=op.f("ck_member_cards_points")),
        sa.CheckConstraint("principal_fen >= 0", name=op.f("ck_member_cards_principal_fen")),
        sa.CheckConstraint("bonus_fen >= 0", name=op.f("ck_member_cards_bonus_fen")),
    )
    op.create_index("ix_member_cards_level_id", "member_cards", ["level_id"])
    op.create_table(
        "member_holds",
        _big("id"),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        _big("card_id"),
        _big("fen"),
        _big("principal_fen"),
        _big("bonus_fen"),
        _big("points"),
        sa.Column("state", sa.String(16), nullable=False),
        _big("returned_principal_fen"),
        _big("returned_bonus_fen"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_holds")),
        sa.UniqueConstraint("kind", "ref", name=op.f("uq_member_holds_kind_ref")),
        _fk("member_holds", "card_id", "member_cards.id", "RESTRICT"),
        sa.CheckConstraint("kind IN ('stored_value', 'points')", name=op.f("ck_member_holds_kind")),
        sa.CheckConstraint("state IN ('held', 'captured', 'released')", name=op.f("ck_member_holds_state")),
        sa.CheckConstraint(
            "fen > 0 AND principal_fen >= 0 AND bonus_fen >= 0 AND points >= 0 "
            "AND (kind = 'points' OR fen = principal_fen + bonus_fen)",
            name=op.f("ck_member_holds_amounts"),
        ),
        sa.CheckConstraint(
            "returned_principal_fen BETWEEN 0 AND principal_fen AND returned_bonus_fen BETWEEN 0 AND bonus_fen",
            name=op.f("ck_member_holds_returned"),
        ),
    )
    op.create_index("ix_member_holds_card_id", "member_holds", ["card_id"])
    op.create_table(
        "member_card_entries",
        _big("id"),
        _big("card_id"),
        sa.Column("ref", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        _big("principal_delta_fen"),
        _big("bonus_delta_fen"),
        _big("points_delta"),
        _big("principal_after_fen"),
        _big("bonus_after_fen"),
        _big("points_after"),
        sa.Column("memo", sa.String(200), nullable=False),
        _ts("at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_card_entries")),
        sa.UniqueConstraint("ref", name=op.f("uq_member_card_entries_ref")),
        _fk("member_card_entries", "card_id", "member_cards.id", "RESTRICT"),
    )
    op.create_index("ix_member_card_entries_card_id_id", "member_card_entries", ["card_id", "id"])
    op.create_table(
        "member_points_awards",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _big("card_id"),
        _big("base_fen"),
        _big("points"),
        _big("refunded_fen"),
        _big("reversed_points"),
        _ts("at", nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_member_points_awards")),
        _fk("member_points_awards", "card_id", "member_cards.id", "RESTRICT"),
        sa.CheckConstraint("base_fen > 0 AND points >= 0", name=op.f("ck_member_points_awards_amounts")),
        sa.CheckConstraint(
            "refunded_fen BETWEEN 0 AND base_fen AND reversed_points BETWEEN 0 AND points",
            name=op.f("ck_member_points_awards_reversed"),
        ),
    )
    op.create_index("ix_member_points_awards_card_id", "member_points_awards", ["card_id"])
    op.create_table(
        "member_topup_plans",
        _big("id"),
        sa.Column("name", sa.String(50), nullable=False),
        _big("pay_fen"),
        _big("bonus_fen"),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_topup_plans")),
        sa.UniqueConstraint("pay_fen", name=op.f("uq_member_topup_plans_pay_fen")),
        sa.CheckConstraint(
            "pay_fen BETWEEN 100 AND 1000000 AND bonus_fen >= 0 AND bonus_fen <= pay_fen",
            name=op.f("ck_member_topup_plans_amounts"),
        ),
    )
    op.create_table(
        "member_topups",
        _big("id"),
        sa.Column("number", sa.String(32), nullable=False),
        _big("card_id"),
        _big("customer_id"),
        _big("plan_id", nullable=True),
        _big("pay_fen"),
        _big("bonus_fen"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("payment_ref", sa.String(64)),
        _ts("deadline_at", nullable=False),
        _ts("paid_at"),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_topups")),
        sa.UniqueConstraint("number", name=op.f("uq_member_topups_number")),
        _fk("member_topups", "card_id", "member_cards.id", "RESTRICT"),
        _fk("member_topups", "customer_id", "customers.id", "RESTRICT"),
        _fk("member_topups", "plan_id", "member_topup_plans.id", "SET NULL"),
        sa.CheckConstraint("status IN ('created', 'paid', 'cancelled')", name=op.f("ck_member_topups_status")),
        sa.CheckConstraint("pay_fen > 0 AND bonus_fen >= 0", name=op.f("ck_member_topups_amounts")),
    )
    op.create_index("ix_member_topups_card_id", "member_topups", ["card_id"])
    op.create_table(
        "member_code_tokens",
        sa.Column("token", sa.String(64), nullable=False),
        _big("card_id"),
        _ts("expires_at", nullable=False),
        _ts("used_at"),
        _big("used_by", nullable=True),
        _big("used_store_id", nullable=True),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_member_code_tokens")),
        _fk("member_code_tokens", "card_id", "member_cards.id", "CASCADE"),
    )
    op.create_index("ix_member_code_tokens_card_id", "member_code_tokens", ["card_id"])


def downgrade() -> None:
    for table in (
        "member_code_tokens",
        "member_topups",
        "member_topup_plans",
        "member_points_awards",
        "member_card_entries",
        "member_holds",
        "member_cards",
        "member_levels",
    ):
        op.drop_table(table)
