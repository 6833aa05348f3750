"""Orders: carts, orders, lines, status events, idempotency keys, prescriptions, after-sales (filled by the orders work).

Revision ID: 0005
Revises: 0004
"""

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
