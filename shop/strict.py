"""Strict JSON bodies: Litestar converts request bodies with msgspec's lax rules ("12" and 12.0 become the
int 12), which would let a float or a string through as a price in fen. Handlers re-read their body strictly."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request

from core.errors import InvalidInput

T = TypeVar("T", bound=msgspec.Struct)


async def strict_body(request: Request[Any, Any, Any], data: T) -> T:
    """`data` as Litestar parsed it, re-decoded from the raw body with no type coercion."""
    try:
        return msgspec.json.decode(await request.body(), type=type(data), strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid input: {exc}") from None
    except msgspec.DecodeError:
        raise InvalidInput("the body is not valid JSON") from None
