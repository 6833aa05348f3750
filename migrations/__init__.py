"""Alembic environment and versions (one linear history)."""
