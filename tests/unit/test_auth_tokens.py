"""Token checks with the verified-payload cache: the cache may only skip re-verifying the same bytes."""

from __future__ import annotations

from datetime import timedelta

import jwt

from core import clock
from core.auth import _VERIFIED, decode_token, issue_token
from core.settings import get_settings


def test_a_cached_token_still_expires_and_its_principal_is_a_copy() -> None:
    token = issue_token("customer", 7, "customer", ttl=timedelta(minutes=5))
    first = decode_token(token)
    assert first is not None and (first.kind, first.id, first.role) == ("customer", 7, "customer")
    assert any(t == token for _, t in _VERIFIED)
    first.claims["role"] = "admin"  # a handler scribbling on its principal must not reach the next request
    again = decode_token(token)
    assert again is not None and again.claims["role"] == "customer" and again.role == "customer"
    try:
        clock.advance(timedelta(minutes=5, seconds=1))
        assert decode_token(token) is None
    finally:
        clock.reset()


def test_forged_tokens_are_refused_even_when_the_genuine_one_is_cached() -> None:
    good = issue_token("user", 3, "staff")
    assert decode_token(good) is not None
    head, body, sig = good.split(".")
    assert decode_token(f"{head}.{body}.{sig[:-2]}{'AA' if not sig.endswith('AA') else 'BB'}") is None
    other = jwt.encode(
        {"sub": "user:3", "role": "admin", "exp": 2**40}, "not-our-secret-but-long-enough-for-hs256", algorithm="HS256"
    )
    assert decode_token(other) is None
    unsigned = jwt.encode({"sub": "user:3", "role": "admin", "exp": 2**40}, None, algorithm="none")
    assert decode_token(unsigned) is None
    assert decode_token("garbage") is None


def test_the_cache_is_keyed_by_the_secret_and_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    token = issue_token("user", 4, "finance")
    assert decode_token(token) is not None
    monkeypatch.setattr(get_settings(), "secret_key", "rotated-" + get_settings().secret_key)
    assert decode_token(token) is None  # signed with the old secret: not valid after rotation
    import core.auth as auth

    monkeypatch.setattr(auth, "_VERIFIED_MAX", 3)
    for i in range(10):
        assert decode_token(issue_token("customer", 100 + i, "customer")) is not None
    assert len(_VERIFIED) <= 3
