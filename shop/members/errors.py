"""Typed errors of member cards, stored value, points and member codes (messages in Chinese: customers read them)."""

from __future__ import annotations

from core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable


class NoMemberCard(NotFound):
    """The customer has no member card (or the card id is unknown)."""


class NotYourCard(Forbidden):
    """A card of another customer."""


class InsufficientStoredValue(Unprocessable):
    """Spending more stored value than the card holds."""


class InsufficientPoints(Unprocessable):
    """Spending more points than the card holds, or more than an order may deduct."""


class HoldConflict(Conflict):
    """A ref already holds something else, or a hold is not in the state the step needs."""


class BadTopUp(InvalidInput):
    """A top-up amount or plan that is not offered."""


class MemberCodeRejected(Unprocessable):
    """A member QR token that is unknown, expired, or already used."""
