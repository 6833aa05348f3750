"""Engage: official-account messages, keyword rules, menus, QR scenes, referrals, notifications, pushes, inbox (filled by the engage work).

Revision ID: 0007
Revises: 0006
"""

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
