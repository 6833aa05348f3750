"""Identifiers: sortable public ids and merchant-side trade numbers."""

from __future__ import annotations

import secrets

from core import clock


def new_token(nbytes: int = 16) -> str:
    return secrets.token_hex(nbytes)


def nonce_str(length: int = 32) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def trade_no(prefix: str = "O") -> str:
    """A merchant trade number: prefix + Shanghai timestamp + random, ≤ 32 chars, [A-Za-z0-9]."""
    stamp = clock.now_shanghai().strftime("%Y%m%d%H%M%S")
    return f"{prefix}{stamp}{secrets.token_hex(6).upper()}"
