"""Member cards: the `shop.members` seam orders and payments call (engineering.md), re-exported from its modules."""

from shop.members.cards import MEMBER_TERMS_COLUMN, MemberTerms, member_pricing, member_terms_from, open_card
from shop.members.points import (
    award_points,
    capture_points,
    hold_points,
    points_cap,
    points_use,
    release_points,
    reverse_points,
)
from shop.members.stored_value import capture_hold, credit_stored_value, credit_topup, hold_stored_value, release_hold

__all__ = [
    "MEMBER_TERMS_COLUMN",
    "MemberTerms",
    "award_points",
    "capture_hold",
    "capture_points",
    "credit_stored_value",
    "credit_topup",
    "hold_points",
    "hold_stored_value",
    "member_pricing",
    "member_terms_from",
    "open_card",
    "points_cap",
    "points_use",
    "release_hold",
    "release_points",
    "reverse_points",
]
