"""Shop: stores, hours, catalogue, per-store prices and stock, customers, staff links, audit.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = False, default: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=sa.func.now() if default else None
    )


def _audit() -> list[sa.Column]:
    return [_ts("created_at"), _ts("updated_at")]


def upgrade() -> None:
    op.create_table(
        "official_accounts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("appid", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False, server_default=""),
        sa.Column("secret", sa.String(128), nullable=False, server_default=""),
        sa.Column("token", sa.String(64), nullable=False, server_default=""),
        sa.Column("aes_key", sa.String(43)),
        sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_official_accounts"),
        sa.UniqueConstraint("appid", name="uq_official_accounts_appid"),
    )
    op.create_index(
        "ix_official_accounts_one_default",
        "official_accounts",
        ["is_default"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )

    op.create_table(
        "stores",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("address", sa.String(300), nullable=False, server_default=""),
        sa.Column("phone", sa.String(32), nullable=False, server_default=""),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lng", sa.Double(), nullable=False),
        sa.Column("radius_m", sa.Integer(), nullable=False),
        sa.Column("urgent_capacity", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("is_partner", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("is_hq", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_stores"),
        sa.UniqueConstraint("code", name="uq_stores_code"),
        sa.CheckConstraint("lat BETWEEN -90 AND 90", name=op.f("ck_stores_lat")),
        sa.CheckConstraint("lng BETWEEN -180 AND 180", name=op.f("ck_stores_lng")),
        sa.CheckConstraint("radius_m > 0", name=op.f("ck_stores_radius_m")),
        sa.CheckConstraint("urgent_capacity >= 0", name=op.f("ck_stores_urgent_capacity")),
        sa.CheckConstraint("status IN ('active', 'paused')", name=op.f("ck_stores_status")),
    )
    op.create_index("ix_stores_one_hq", "stores", ["is_hq"], unique=True, postgresql_where=sa.text("is_hq"))
    # Nearest-store queries order by this index (GiST KNN on the earth cube).
    op.execute("CREATE INDEX ix_stores_earth ON stores USING gist (ll_to_earth(lat, lng))")
    op.create_index("ix_stores_radius_m", "stores", ["radius_m"])

    op.create_table(
        "store_hours",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("open_min", sa.Integer(), nullable=False),
        sa.Column("close_min", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_store_hours"),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name="fk_store_hours_store_id_stores", ondelete="CASCADE"),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_store_hours_weekday")),
        sa.CheckConstraint("open_min BETWEEN 0 AND 1439", name=op.f("ck_store_hours_open_min")),
        sa.CheckConstraint("close_min > open_min AND close_min <= open_min + 1440", name=op.f("ck_store_hours_close_min")),
    )
    op.execute(
        "ALTER TABLE store_hours ADD CONSTRAINT ex_store_hours_overlap EXCLUDE USING gist "
        "(store_id WITH =, int8range(weekday * 1440 + open_min, weekday * 1440 + close_min) WITH &&)"
    )
    op.create_index("ix_store_hours_store_id", "store_hours", ["store_id"])

    op.create_table(
        "store_hours_exceptions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("open_min", sa.Integer()),
        sa.Column("close_min", sa.Integer()),
        sa.Column("note", sa.String(100), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_store_hours_exceptions"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_store_hours_exceptions_store_id_stores", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "(open_min IS NULL AND close_min IS NULL) OR (open_min BETWEEN 0 AND 1439 "
            "AND close_min > open_min AND close_min <= open_min + 1440)",
            name=op.f("ck_store_hours_exceptions_interval"),
        ),
    )
    op.execute(
        "ALTER TABLE store_hours_exceptions ADD CONSTRAINT ex_store_hours_exceptions_overlap EXCLUDE USING gist "
        "(store_id WITH =, on_date WITH =, int8range(coalesce(open_min, 0), coalesce(close_min, 1440)) WITH &&)"
    )
    op.create_index("ix_store_hours_exceptions_store_id_on_date", "store_hours_exceptions", ["store_id", "on_date"])

    op.create_table(
        "store_staff",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("store_id", "user_id", name="pk_store_staff"),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"], name="fk_store_staff_store_id_stores", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_store_staff_user_id_users", ondelete="CASCADE"),
    )
    op.create_index("ix_store_staff_user_id", "store_staff", ["user_id"])

    op.create_table(
        "categories",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger()),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_categories"),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["categories.id"], name="fk_categories_parent_id_categories", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint(
            "parent_id", "name", name="uq_categories_parent_id_name", postgresql_nulls_not_distinct=True
        ),
    )

    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("subtitle", sa.String(200), nullable=False, server_default=""),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("image_urls", postgresql.ARRAY(sa.String(500)), nullable=False, server_default="{}"),
        sa.Column("tags", postgresql.ARRAY(sa.String(32)), nullable=False, server_default="{}"),
        sa.Column("prescription_required", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.ForeignKeyConstraint(
            ["category_id"], ["categories.id"], name="fk_products_category_id_categories", ondelete="RESTRICT"
        ),
    )
    op.create_index("ix_products_category_id", "products", ["category_id"])
    # Trigram indexes serve substring search, Chinese included (the database's builtin C.UTF-8 provider
    # classifies CJK characters as letters, so pg_trgm makes trigrams of them).
    op.create_index(
        "ix_products_title_trgm",
        "products",
        ["title"],
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_products_subtitle_trgm",
        "products",
        ["subtitle"],
        postgresql_using="gin",
        postgresql_ops={"subtitle": "gin_trgm_ops"},
    )

    op.create_table(
        "skus",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("spec", sa.String(100), nullable=False, server_default=""),
        sa.Column("barcode", sa.String(32)),
        sa.Column("base_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_skus"),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name="fk_skus_product_id_products", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("code", name="uq_skus_code"),
        sa.CheckConstraint("base_price_fen >= 0", name=op.f("ck_skus_base_price_fen")),
    )
    op.create_index("ix_skus_product_id", "skus", ["product_id"])
    op.create_index("ix_skus_barcode", "skus", ["barcode"])

    op.create_table(
        "store_listings",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("sku_id", sa.BigInteger(), nullable=False),
        sa.Column("price_fen", sa.BigInteger()),
        sa.Column("listed", sa.Boolean(), nullable=False, server_default=sa.true()),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("store_id", "sku_id", name="pk_store_listings"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_store_listings_store_id_stores", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name="fk_store_listings_sku_id_skus", ondelete="CASCADE"),
        sa.CheckConstraint("price_fen IS NULL OR price_fen >= 0", name=op.f("ck_store_listings_price_fen")),
    )
    op.create_index("ix_store_listings_sku_id", "store_listings", ["sku_id"])

    op.create_table(
        "stock_levels",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("sku_id", sa.BigInteger(), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger(), nullable=False, server_default="0"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("store_id", "sku_id", name="pk_stock_levels"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_stock_levels_store_id_stores", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name="fk_stock_levels_sku_id_skus", ondelete="CASCADE"),
        sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name=op.f("ck_stock_levels_reserved")),
    )
    op.create_index("ix_stock_levels_sku_id", "stock_levels", ["sku_id"])

    op.create_table(
        "stock_movements",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("sku_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("on_hand_delta", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("reserved_delta", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("ref", sa.String(100)),
        sa.Column("actor", sa.String(64), nullable=False, server_default="system"),
        sa.Column("reason", sa.String(200), nullable=False, server_default=""),
        _ts("created_at", default=False),
        sa.PrimaryKeyConstraint("id", name="pk_stock_movements"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_stock_movements_store_id_stores", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name="fk_stock_movements_sku_id_skus", ondelete="CASCADE"),
        sa.CheckConstraint(
            "kind IN ('receive', 'adjust', 'reserve', 'release', 'sell', 'return')",
            name=op.f("ck_stock_movements_kind"),
        ),
    )
    op.create_index("ix_stock_movements_store_id_sku_id", "stock_movements", ["store_id", "sku_id"])
    op.create_index("ix_stock_movements_ref", "stock_movements", ["ref"])

    op.create_table(
        "stock_reservations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(100), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="held"),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_stock_reservations"),
        sa.UniqueConstraint("ref", name="uq_stock_reservations_ref"),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_stock_reservations_store_id_stores", ondelete="RESTRICT"
        ),
        sa.CheckConstraint("status IN ('held', 'released', 'committed')", name=op.f("ck_stock_reservations_status")),
    )
    op.create_index("ix_stock_reservations_store_id", "stock_reservations", ["store_id"])

    op.create_table(
        "stock_reservation_lines",
        sa.Column("reservation_id", sa.BigInteger(), nullable=False),
        sa.Column("sku_id", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("returned", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("reservation_id", "sku_id", name="pk_stock_reservation_lines"),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["stock_reservations.id"],
            name="fk_stock_reservation_lines_reservation_id_stock_reservations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name="fk_stock_reservation_lines_sku_id_skus", ondelete="RESTRICT"
        ),
        sa.CheckConstraint("qty > 0", name=op.f("ck_stock_reservation_lines_qty")),
        sa.CheckConstraint("returned >= 0 AND returned <= qty", name=op.f("ck_stock_reservation_lines_returned")),
    )

    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("unionid", sa.String(64)),
        sa.Column("nickname", sa.String(64), nullable=False, server_default=""),
        sa.Column("avatar_url", sa.String(500), nullable=False, server_default=""),
        sa.Column("phone", sa.String(32)),
        sa.Column("referral_scene", sa.String(64)),
        sa.Column("referrer_customer_id", sa.BigInteger()),
        sa.Column("referral_store_id", sa.BigInteger()),
        sa.Column("tags", postgresql.ARRAY(sa.String(32)), nullable=False, server_default="{}"),
        _ts("last_sign_in_at", nullable=True, default=False),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("account_id", "openid", name="uq_customers_account_id_openid"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["official_accounts.id"],
            name="fk_customers_account_id_official_accounts",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["referrer_customer_id"],
            ["customers.id"],
            name="fk_customers_referrer_customer_id_customers",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["referral_store_id"], ["stores.id"], name="fk_customers_referral_store_id_stores", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_customers_unionid", "customers", ["unionid"])

    op.create_table(
        "customer_addresses",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_name", sa.String(50), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("detail", sa.String(200), nullable=False, server_default=""),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lng", sa.Double(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()),
        *_audit(),
        sa.PrimaryKeyConstraint("id", name="pk_customer_addresses"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_customer_addresses_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("lat BETWEEN -90 AND 90", name=op.f("ck_customer_addresses_lat")),
        sa.CheckConstraint("lng BETWEEN -180 AND 180", name=op.f("ck_customer_addresses_lng")),
    )
    op.create_index("ix_customer_addresses_customer_id", "customer_addresses", ["customer_id"])

    op.create_table(
        "shop_audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False, server_default=""),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("entity", sa.String(50), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("store_id", sa.BigInteger()),
        sa.Column("before", postgresql.JSONB()),
        sa.Column("after", postgresql.JSONB()),
        sa.Column("reason", sa.String(200), nullable=False, server_default=""),
        _ts("at", default=False),
        sa.PrimaryKeyConstraint("id", name="pk_shop_audit_log"),
    )
    op.create_index("ix_shop_audit_log_store_id_at", "shop_audit_log", ["store_id", "at"])
    op.create_index("ix_shop_audit_log_entity_entity_id", "shop_audit_log", ["entity", "entity_id"])


def downgrade() -> None:
    for table in (
        "shop_audit_log",
        "customer_addresses",
        "customers",
        "stock_reservation_lines",
        "stock_reservations",
        "stock_movements",
        "stock_levels",
        "store_listings",
        "skus",
        "products",
        "categories",
        "store_staff",
        "store_hours_exceptions",
        "store_hours",
        "stores",
        "official_accounts",
    ):
        op.drop_table(table)
