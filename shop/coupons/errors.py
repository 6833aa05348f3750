"""Typed coupon errors with the Chinese message the customer sees (mapped to HTTP by core.errors)."""

from __future__ import annotations

from core.errors import Conflict, NotFound, Unprocessable


class CouponNotFound(NotFound):
    """No such coupon for this customer (someone else's coupon looks the same as none)."""

    def __init__(self, ident: object) -> None:
        super().__init__(f"优惠券 {ident} 不存在或不属于您")


class TemplateNotFound(NotFound):
    def __init__(self, ident: object) -> None:
        super().__init__(f"优惠券活动 {ident} 不存在")


class ClaimRefused(Conflict):
    """Quota gone, limit reached, window closed: nothing was issued. `extra.reason` is a stable code."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, extra={"reason": reason})
        self.reason = reason


class CouponNotApplicable(Unprocessable):
    """The coupon cannot be used on this order (scope, threshold, state); the message says why."""


class CouponNotRedeemable(Conflict):
    """In-store redemption refused: used, locked by an order, expired, or not valid at this store."""
