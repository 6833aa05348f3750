"""WeChat Pay v2 signatures (the optional fallback protocol): MD5 / HMAC-SHA256 over sorted k=v&…&key=API_KEY."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

MD5 = "MD5"
HMAC_SHA256 = "HMAC-SHA256"


def string_to_sign(params: Mapping[str, Any], api_key: str) -> str:
    """Sorted `k=v` pairs without `sign` and empty values, then `&key=API_KEY`."""
    pairs = [f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v is not None and str(v) != ""]
    return "&".join([*pairs, f"key={api_key}"])


def sign(params: Mapping[str, Any], api_key: str, sign_type: str = MD5) -> str:
    """Uppercase hex signature of `params` (MD5 unless `sign_type` says HMAC-SHA256)."""
    text = string_to_sign(params, api_key).encode()
    if sign_type.upper() == HMAC_SHA256:
        return hmac.new(api_key.encode(), text, hashlib.sha256).hexdigest().upper()
    if sign_type.upper() != MD5:
        raise ValueError(f"unknown WeChat Pay v2 sign_type {sign_type!r}")
    return hashlib.md5(text).hexdigest().upper()  # noqa: S324 - the protocol's algorithm


def verify(params: Mapping[str, Any], api_key: str, sign_type: str | None = None) -> bool:
    """True when `params["sign"]` matches; the algorithm is the message's own `sign_type` unless given."""
    given = str(params.get("sign") or "")
    algo = sign_type or str(params.get("sign_type") or MD5)
    try:
        expected = sign(params, api_key, algo)
    except ValueError:
        return False
    return bool(given) and hmac.compare_digest(expected, given.upper())
