"""Payments: intents, notifies, refunds, ledger, bills, reconciliation, settlement.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True, default: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=sa.func.now() if default else None
    )


def _audit() -> list[sa.Column]:
    return [_ts("created_at", nullable=False, default=True), _ts("updated_at", nullable=False, default=True)]


def _fen(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "payment_intents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("out_trade_no", sa.String(32), nullable=False),
        sa.Column("payable_kind", sa.String(16), nullable=False),
        sa.Column("payable_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        _fen("amount_fen"),
        sa.Column("description", sa.String(127), nullable=False),
        sa.Column("appid", sa.String(32), nullable=False),
        sa.Column("mchid", sa.String(32), nullable=False),
        sa.Column("openid", sa.String(128)),
        sa.Column("store_id", sa.BigInteger()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("prepay_id", sa.String(64)),
        _ts("prepay_expires_at"),
        sa.Column("code_url", sa.String(128)),
        _ts("time_expire", nullable=False),
        sa.Column("transaction_id", sa.String(32)),
        _fen("paid_fen", nullable=True),
        _ts("paid_at"),
        sa.Column("paid_via", sa.String(8)),
        sa.Column("credit_outcome", sa.String(16)),
        _ts("closed_at"),
        sa.Column("checks", sa.Integer(), nullable=False),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_payment_intents"),
        sa.UniqueConstraint("out_trade_no", name="uq_payment_intents_out_trade_no"),
        sa.UniqueConstraint("transaction_id", name="uq_payment_intents_transaction_id"),
        sa.CheckConstraint("status IN ('pending', 'paid', 'closed', 'failed')", name=op.f("ck_payment_intents_status")),
        sa.CheckConstraint("channel IN ('JSAPI', 'NATIVE')", name=op.f("ck_payment_intents_channel")),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_payment_intents_amount_fen")),
        sa.CheckConstraint(
            "(status = 'paid') = (transaction_id IS NOT NULL AND paid_fen IS NOT NULL AND paid_at IS NOT NULL)",
            name=op.f("ck_payment_intents_paid"),
        ),
        sa.CheckConstraint(
            "credit_outcome IS NULL OR credit_outcome IN ('credited', 'late', 'duplicate')",
            name=op.f("ck_payment_intents_credit_outcome"),
        ),
    )
    op.create_index("ix_payment_intents_payable_kind_payable_id", "payment_intents", ["payable_kind", "payable_id"])
    op.create_index(
        "ix_payment_intents_paid_at", "payment_intents", ["paid_at"], postgresql_where=sa.text("paid_at IS NOT NULL")
    )
    op.create_index(
        "ix_payment_intents_pending", "payment_intents", ["created_at"], postgresql_where=sa.text("status = 'pending'")
    )

    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(100), nullable=False),
        sa.Column("out_refund_no", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("payable_kind", sa.String(16), nullable=False),
        sa.Column("payable_id", sa.BigInteger(), nullable=False),
        sa.Column("intent_id", sa.BigInteger()),
        sa.Column("store_id", sa.BigInteger()),
        _fen("amount_fen"),
        _fen("wechat_fen"),
        _fen("stored_value_fen"),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("wechat_refund_id", sa.String(64)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500)),
        sa.Column("requested_by", sa.String(64), nullable=False),
        _ts("succeeded_at"),
        _ts("finished_at"),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_payment_refunds"),
        sa.UniqueConstraint("ref", name="uq_payment_refunds_ref"),
        sa.UniqueConstraint("out_refund_no", name="uq_payment_refunds_out_refund_no"),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["payment_intents.id"],
            name="fk_payment_refunds_intent_id_payment_intents",
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'success', 'closed', 'abnormal', 'failed')",
            name=op.f("ck_payment_refunds_status"),
        ),
        sa.CheckConstraint("kind IN ('order', 'late_payment', 'duplicate_payment')", name=op.f("ck_payment_refunds_kind")),
        sa.CheckConstraint(
            "amount_fen > 0 AND wechat_fen >= 0 AND stored_value_fen >= 0", name=op.f("ck_payment_refunds_amounts")
        ),
        sa.CheckConstraint("amount_fen = wechat_fen + stored_value_fen", name=op.f("ck_payment_refunds_split")),
        sa.CheckConstraint("wechat_fen = 0 OR intent_id IS NOT NULL", name=op.f("ck_payment_refunds_intent")),
    )
    op.create_index("ix_payment_refunds_intent_id", "payment_refunds", ["intent_id"])
    op.create_index("ix_payment_refunds_payable_kind_payable_id", "payment_refunds", ["payable_kind", "payable_id"])
    op.create_index(
        "ix_payment_refunds_succeeded_at",
        "payment_refunds",
        ["succeeded_at"],
        postgresql_where=sa.text("succeeded_at IS NOT NULL"),
    )
    op.create_index(
        "ix_payment_refunds_open",
        "payment_refunds",
        ["status"],
        postgresql_where=sa.text("status IN ('pending', 'processing', 'abnormal', 'failed')"),
    )

    op.create_table(
        "payment_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("intent_id", sa.BigInteger()),
        sa.Column("refund_id", sa.BigInteger()),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        _ts("at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_events"),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["payment_intents.id"],
            name="fk_payment_events_intent_id_payment_intents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["payment_refunds.id"],
            name="fk_payment_events_refund_id_payment_refunds",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("(intent_id IS NULL) <> (refund_id IS NULL)", name=op.f("ck_payment_events_subject")),
    )
    op.create_index("ix_payment_events_intent_id", "payment_events", ["intent_id"])
    op.create_index("ix_payment_events_refund_id", "payment_events", ["refund_id"])

    op.create_table(
        "payment_notifies",
        sa.Column("id", sa.BigInteger(), nullable=False),
        _ts("received_at", nullable=False),
        sa.Column("notify_id", sa.String(64)),
        sa.Column("event_type", sa.String(40)),
        sa.Column("serial", sa.String(80)),
        sa.Column("signed_at", sa.String(20)),
        sa.Column("nonce", sa.String(64)),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("error", sa.String(500)),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("out_trade_no", sa.String(32)),
        sa.Column("transaction_id", sa.String(32)),
        sa.Column("out_refund_no", sa.String(64)),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("resource", postgresql.JSONB()),
        sa.PrimaryKeyConstraint("id", name="pk_payment_notifies"),
    )
    op.create_index("ix_payment_notifies_received_at", "payment_notifies", ["received_at"])
    op.create_index("ix_payment_notifies_out_trade_no", "payment_notifies", ["out_trade_no"])

    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        _ts("occurred_at", nullable=False),
        sa.Column("order_id", sa.BigInteger()),
        sa.Column("intent_id", sa.BigInteger()),
        sa.Column("refund_id", sa.BigInteger()),
        sa.Column("memo", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_transactions"),
        sa.UniqueConstraint("ref", name="uq_ledger_transactions_ref"),
    )
    op.create_index("ix_ledger_transactions_business_date", "ledger_transactions", ["business_date"])
    op.create_index("ix_ledger_transactions_order_id", "ledger_transactions", ["order_id"])

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("store_id", sa.BigInteger()),
        _fen("debit_fen"),
        _fen("credit_fen"),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name="fk_ledger_entries_transaction_id_ledger_transactions",
            ondelete="RESTRICT",
        ),
        sa.CheckConstraint(
            "debit_fen >= 0 AND credit_fen >= 0 AND (debit_fen = 0) <> (credit_fen = 0)",
            name=op.f("ck_ledger_entries_one_side"),
        ),
    )
    op.create_index("ix_ledger_entries_transaction_id", "ledger_entries", ["transaction_id"])
    op.create_index("ix_ledger_entries_account", "ledger_entries", ["account"])
    op.create_index(
        "ix_ledger_entries_store_id", "ledger_entries", ["store_id"], postgresql_where=sa.text("store_id IS NOT NULL")
    )
    # Append-only: postings are corrected by new postings, never edited (TRUNCATE stays possible for tests).
    op.execute(
        """
        CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME;
        END $$
        """
    )
    for table in ("ledger_transactions", "ledger_entries"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )
    # Balanced at commit: Σdebit = Σcredit for every transaction that got entries.
    op.execute(
        """
        CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE d bigint; c bigint;
        BEGIN
            SELECT coalesce(sum(debit_fen), 0), coalesce(sum(credit_fen), 0) INTO d, c
            FROM ledger_entries WHERE transaction_id = NEW.transaction_id;
            IF d <> c THEN
                RAISE EXCEPTION 'ledger transaction % is unbalanced: debits % <> credits %', NEW.transaction_id, d, c;
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced()"
    )

    op.create_table(
        "recon_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("triggered_by", sa.String(64), nullable=False),
        sa.Column("bill_sha1", sa.String(40)),
        sa.Column("bill_rows", sa.BigInteger(), nullable=False),
        sa.Column("payment_rows", sa.BigInteger(), nullable=False),
        sa.Column("refund_rows", sa.BigInteger(), nullable=False),
        _fen("bill_paid_fen"),
        _fen("bill_refund_fen"),
        _fen("bill_fee_fen"),
        _fen("local_paid_fen"),
        _fen("local_refund_fen"),
        sa.Column("mismatches", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("seconds", sa.Float()),
        _ts("started_at", nullable=False),
        _ts("finished_at"),
        sa.PrimaryKeyConstraint("id", name="pk_recon_runs"),
        sa.CheckConstraint("status IN ('running', 'done', 'refused', 'failed')", name=op.f("ck_recon_runs_status")),
    )
    op.create_index("ix_recon_runs_bill_date_id", "recon_runs", ["bill_date", "id"])

    op.create_table(
        "recon_mismatches",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _fen("bill_amount_fen", nullable=True),
        _fen("local_amount_fen", nullable=True),
        sa.Column("bill_status", sa.String(24)),
        sa.Column("local_status", sa.String(24)),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.Column("first_run_id", sa.BigInteger(), nullable=False),
        sa.Column("last_run_id", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("resolved_by", sa.String(64)),
        _ts("resolved_at"),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_recon_mismatches"),
        sa.UniqueConstraint("bill_date", "kind", "key", name="uq_recon_mismatches_bill_date_kind_key"),
        sa.CheckConstraint(
            "kind IN ('missing_locally', 'missing_in_bill', 'amount_differs', 'status_differs', 'refund_differs', "
            "'fee_totals')",
            name=op.f("ck_recon_mismatches_kind"),
        ),
        sa.CheckConstraint("status IN ('open', 'resolved', 'cleared')", name=op.f("ck_recon_mismatches_status")),
    )
    op.create_index("ix_recon_mismatches_status_bill_date", "recon_mismatches", ["status", "bill_date"])

    op.create_table(
        "settlement_terms",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("commission_bp", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("store_id", name="pk_settlement_terms"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_settlement_terms_store_id_stores", ondelete="CASCADE"
        ),
        sa.CheckConstraint("commission_bp BETWEEN 0 AND 10000", name=op.f("ck_settlement_terms_commission_bp")),
    )

    op.create_table(
        "settlement_statements",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _fen("sales_fen"),
        _fen("delivery_income_fen"),
        _fen("refunds_fen"),
        _fen("coupon_cost_fen"),
        sa.Column("commission_bp", sa.Integer(), nullable=False),
        _fen("commission_fen"),
        _fen("net_payable_fen"),
        sa.Column("confirmed_by", sa.String(64)),
        _ts("confirmed_at"),
        sa.Column("paid_by", sa.String(64)),
        _ts("paid_at"),
        sa.Column("payout_ref", sa.String(64)),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_settlement_statements"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_settlement_statements_store_id_stores", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint(
            "store_id", "period_start", "period_end", name="uq_settlement_statements_store_id_period_start_period_end"
        ),
        sa.CheckConstraint("status IN ('draft', 'confirmed', 'paid')", name=op.f("ck_settlement_statements_status")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_settlement_statements_period")),
    )

    # The first daily reconciliation (10:30 Asia/Shanghai, for the day before); each run schedules the next.
    op.execute(
        """
        INSERT INTO jobs (kind, payload, run_at, status, attempts, max_attempts, dedupe_key, created_at)
        SELECT 'payments.daily_reconcile', jsonb_build_object('day', to_char(x.at::date - 1, 'YYYY-MM-DD')),
               x.at AT TIME ZONE 'Asia/Shanghai', 'pending', 0, 8,
               'reconcile:daily:' || to_char(x.at::date - 1, 'YYYY-MM-DD'), now()
        FROM (SELECT date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') + interval '10 hours 30 minutes'
                     + CASE WHEN (now() AT TIME ZONE 'Asia/Shanghai')::time < time '10:30' THEN interval '0'
                            ELSE interval '1 day' END AS at) x
        ON CONFLICT (dedupe_key) DO NOTHING
        """
    )


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE kind LIKE 'payments.%'")
    op.drop_table("settlement_statements")
    op.drop_table("settlement_terms")
    op.drop_table("recon_mismatches")
    op.drop_table("recon_runs")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_transactions")
    op.execute("DROP FUNCTION IF EXISTS ledger_check_balanced()")
    op.execute("DROP FUNCTION IF EXISTS ledger_append_only()")
    op.drop_table("payment_notifies")
    op.drop_table("payment_events")
    op.drop_table("payment_refunds")
    op.drop_table("payment_intents")
