"""Sandbox schema: WeChat Pay v3 orders, refunds, notifies, bills (filled by the WeChat sandbox work).

Revision ID: 0003
Revises: 0002
"""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
