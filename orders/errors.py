"""Typed errors of the orders domain; core.errors maps each to its HTTP status with the message given here."""

from __future__ import annotations

from core.errors import Conflict, InvalidInput, NotFound, Unprocessable


class OrderNotFound(NotFound):
    def __init__(self, ident: object) -> None:
        super().__init__(f"order {ident} does not exist")


class TransitionNotAllowed(Conflict):
    """The order's current state does not allow this step (the table in orders.status says which do)."""

    def __init__(self, order_ref: object, kind: str, current: str, to: str, allowed: list[str]) -> None:
        nexts = ", ".join(allowed) if allowed else "nothing (it is final)"
        super().__init__(
            f"order {order_ref} is {current}; a {kind} order cannot go from {current} to {to} (allowed next: {nexts})",
            extra={"status": current, "to": to, "allowed": allowed},
        )


class OrderChanged(Conflict):
    """Another request changed the order between our read and our write; reload and decide again."""


class IdempotencyKeyReused(Conflict):
    def __init__(self, key: str, order_number: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for order {order_number} with a different request; "
            "use a new key for a new order",
            extra={"order_number": order_number},
        )


class UnknownSku(InvalidInput):
    """A line names a SKU that does not exist or is not sold at the store."""


class PriceChanged(Conflict):
    """The customer saw other prices than the current ones: re-quote and confirm."""

    def __init__(self, changes: list[dict[str, int]]) -> None:
        what = ", ".join(f"SKU {c['sku_id']} now {c['price_fen']} fen (you saw {c['seen_fen']})" for c in changes)
        super().__init__(
            f"prices changed since you last saw them: {what}; review the new quote and order again",
            extra={"changes": changes},
        )


class TotalChanged(Conflict):
    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"the order total is now {actual} fen, not the {expected} fen you confirmed; review the new quote",
            extra={"expected_total_fen": expected, "total_fen": actual},
        )


class OutOfDeliveryRange(Unprocessable):
    """The address lies outside the store's delivery radius."""


class UrgentNotAvailable(Unprocessable):
    """No store can deliver within the hour to this address right now."""


class StoreNotAvailable(Unprocessable):
    """The store is paused or closed at the wanted time."""


class PrescriptionRequired(Unprocessable):
    def __init__(self, titles: list[str]) -> None:
        super().__init__(
            f"{', '.join(titles)} need(s) a prescription (处方药): attach a photo of the prescription "
            "(prescription_url) to order",
            extra={"products": titles},
        )


class CouponNotApplicable(Unprocessable):
    """The coupon cannot be used for this order."""


class NothingToPay(Unprocessable):
    """An order must be worth at least one fen, unless stored value or points pay for it."""


class CancelNotAllowed(Conflict):
    """Too late to cancel: the goods are on their way or delivered (ask for a refund instead)."""


class RefundNotAllowed(Conflict):
    """The order cannot take this refund request (not delivered, nothing left to refund, one already open)."""


class RefundRequestNotFound(NotFound):
    def __init__(self, ident: object) -> None:
        super().__init__(f"refund request {ident} does not exist")


class ReviewNotPending(Conflict):
    """The prescription review was already decided, or the order does not need one."""


class WrongHandoffCode(Unprocessable):
    def __init__(self) -> None:
        super().__init__(
            "the handoff code does not match this order; ask the customer for the code shown in their order"
        )
