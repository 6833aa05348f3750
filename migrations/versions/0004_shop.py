"""Shop: stores, hours, catalogue, per-store prices and stock, customers, staff links, audit (filled by the shop work).

Revision ID: 0004
Revises: 0003
"""

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
