"""Payments: intents, notify handling, query/close/refund, ledger, bills, reconciliation, settlement."""
