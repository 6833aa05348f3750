"""The transition tables: every kind reaches completion, cancellation only before the goods leave."""

from __future__ import annotations

import itertools
from collections import deque

import pytest

from orders.models import STATUSES
from orders.status import FINAL, STAGE_COLUMN, TRANSITIONS

HAPPY = {
    "pickup": ["created", "paid", "preparing", "ready", "picked_up", "completed"],
    "delivery": ["created", "paid", "preparing", "out_for_delivery", "delivered", "completed"],
    "urgent": ["created", "paid", "dispatching", "accepted", "preparing", "out_for_delivery", "delivered", "completed"],
}


@pytest.mark.parametrize("kind", sorted(TRANSITIONS))
def test_happy_path_and_review_path_are_allowed(kind: str) -> None:
    path = HAPPY[kind]
    for a, b in itertools.pairwise(path):
        assert b in TRANSITIONS[kind][a], (kind, a, b)
    # prescription orders: paid → reviewing → the first fulfilment stage
    first = path[2]
    assert "reviewing" in TRANSITIONS[kind]["paid"]
    assert first in TRANSITIONS[kind]["reviewing"]


@pytest.mark.parametrize("kind", sorted(TRANSITIONS))
def test_final_states_have_no_way_out_and_everything_is_reachable(kind: str) -> None:
    table = TRANSITIONS[kind]
    for final in FINAL:
        assert not table.get(final)
    seen, todo = {"created"}, deque(["created"])
    while todo:
        for nxt in table.get(todo.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert set(HAPPY[kind]) | {"reviewing", "cancelled"} == seen
    assert seen <= set(STATUSES)


@pytest.mark.parametrize("kind", sorted(TRANSITIONS))
def test_no_cancel_once_goods_have_left(kind: str) -> None:
    for status in ("out_for_delivery", "delivered", "picked_up", "completed"):
        assert "cancelled" not in TRANSITIONS[kind].get(status, ())


def test_every_target_has_a_stage_time_column() -> None:
    from orders.models import Order

    for status, column in STAGE_COLUMN.items():
        assert hasattr(Order, column), (status, column)
