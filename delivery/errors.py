"""Typed errors of dispatch and delivery; core.errors maps each to its HTTP status with the message given here."""

from __future__ import annotations

from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unprocessable


class DispatchNotFound(NotFound):
    def __init__(self, ident: object) -> None:
        super().__init__(f"order {ident} has no dispatch (only paid urgent orders are dispatched)")


class OfferNotFound(NotFound):
    def __init__(self, ident: object) -> None:
        super().__init__(f"offer {ident} does not exist")


class NotOffered(Forbidden):
    """The store was never offered this order."""

    def __init__(self, store_id: int, order_ref: object) -> None:
        super().__init__(f"store {store_id} was not offered order {order_ref}; only offered stores can claim it")


class AlreadyTaken(Conflict):
    def __init__(self, order_ref: object, by_you: bool = False) -> None:
        if by_you:
            super().__init__(f"your store already claimed order {order_ref}; go on with preparing it")
        else:
            super().__init__(f"order {order_ref} is already taken by another store", extra={"reason": "already_taken"})


class OfferClosed(Conflict):
    """Too late: the offer expired, was withdrawn, or was already answered."""


class StoreAtCapacity(Conflict):
    pass


class ClaimWithoutStock(Conflict):
    """The claiming store lacks some of the order's items; the offer stays open for the others."""


class DeclineNeedsReason(InvalidInput):
    def __init__(self) -> None:
        super().__init__("say why the store declines (e.g. 没货, 人手不足); HQ reads the reasons")


class StageNotAllowed(Conflict):
    pass


class WrongHandoffCode(Unprocessable):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(
            "the handoff code does not match this order; ask the customer for the code shown in their order "
            f"({attempts_left} attempt(s) left before a pause)",
            extra={"attempts_left": attempts_left},
        )


class TooManyHandoffAttempts(DomainError):
    status_code = 429

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many wrong handoff codes for this order; try again in {max(1, retry_after_s // 60)} minute(s) "
            "or call HQ",
            extra={"retry_after_s": retry_after_s},
        )
        self.retry_after_s = retry_after_s
