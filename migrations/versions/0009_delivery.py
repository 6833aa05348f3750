"""Delivery: dispatches, offers, rings, SLA stages, handoff codes, audit (filled by the dispatch work).

Revision ID: 0009
Revises: 0008
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
