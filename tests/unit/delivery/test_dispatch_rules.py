"""Pure dispatch rules: the ETA model, open-until-the-promise, ranking, ring picking, settings, WeCom card limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from delivery.candidates import Candidate, Decision, rank_key
from delivery.eta import can_make_it, eta, open_through
from delivery.feasibility import _lines
from delivery.notify_staff import closed_card, hq_card, offer_card
from delivery.settings import DispatchSettings
from delivery.widen_ring import pick_ring
from shop.stores.hours import Interval, build_schedule

NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, a Monday
S = DispatchSettings()


def cand(store_id: int, distance: float, load: int = 0) -> Candidate:
    return Candidate(store_id, distance, load, 3, NOW)


def test_eta_is_answer_time_plus_preparation_travel_and_handoff() -> None:
    # 3 min to answer + 10 prep + 5 km * 1.3 at 15 km/h (26 min) + 3 handoff = 42 min
    assert eta(NOW, 5000, S) == NOW + timedelta(minutes=42)
    assert eta(NOW, 5000, S, answer_within=timedelta(0)) == NOW + timedelta(minutes=39)
    promise = NOW + timedelta(minutes=60)
    assert can_make_it(NOW, 5000, promise, S)
    assert not can_make_it(NOW + timedelta(minutes=20), 5000, promise, S)


def test_open_through_needs_the_whole_window() -> None:
    lunch_break = build_schedule([(0, Interval(8 * 60, 12 * 60 + 30)), (0, Interval(13 * 60, 22 * 60))])
    assert open_through(lunch_break, NOW - timedelta(hours=2), NOW)  # 10:00-12:00
    assert not open_through(lunch_break, NOW, NOW + timedelta(minutes=60))  # closes 12:30-13:00
    overnight = build_schedule([(0, Interval(20 * 60, 26 * 60))])  # Monday 20:00 - Tuesday 02:00
    late = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 Tuesday in Shanghai
    assert open_through(overnight, late, late + timedelta(minutes=60))
    assert not open_through(overnight, late, late + timedelta(minutes=100))


def test_capacity_aware_ranking_breaks_near_ties_by_load() -> None:
    near_busy, near_idle, far = cand(1, 1000, load=2), cand(2, 1150, load=0), cand(3, 2000)
    ranked = sorted([near_busy, far, near_idle], key=lambda c: rank_key(c, S))
    assert [c.store_id for c in ranked] == [2, 1, 3]  # same 300 m band: the idle one first
    plain = S.model_copy(update={"strategy": "nearest_first"})
    assert [c.store_id for c in sorted([near_busy, far, near_idle], key=lambda c: rank_key(c, plain))] == [1, 2, 3]


def test_pick_ring_takes_the_next_ring_with_someone_inside() -> None:
    d = Decision(NOW, NOW + timedelta(hours=1), "capacity_aware")
    d.ranked = [cand(i, dist) for i, dist in enumerate([3500, 4000, 5000, 7000, 9000], start=1)]
    ring, picked = pick_ring(d, 0, S)  # nobody within 3 km: ring 2 (6 km) at once
    assert ring == 2 and [c.store_id for c in picked] == [1, 2, 3]
    ring, picked = pick_ring(d, 2, S)
    assert ring == 3 and [c.store_id for c in picked] == [1, 2, 3, 4, 5]
    assert pick_ring(d, 3, S)[1] == []
    plain = S.model_copy(update={"strategy": "nearest_first"})
    assert plain.max_rings == 1
    ring, picked = pick_ring(d, 0, plain)
    assert ring == 1 and [c.store_id for c in picked] == [1, 2, 3]


def test_settings_refuse_mismatched_rings() -> None:
    with pytest.raises(ValidationError, match="same number of rings"):
        DispatchSettings(ring_sizes=(3, 5), ring_radii_m=(3000,))
    with pytest.raises(ValidationError):
        DispatchSettings(offer_deadline_s=0)


def test_wecom_cards_fit_wecom_limits() -> None:
    cards = [
        offer_card("2603020000123", 42, 1234.5, 3, NOW + timedelta(minutes=3), NOW + timedelta(hours=1)),
        closed_card("2603020000123", "已被其他门店接单 (order 2603020000123 was taken by another store)"),
        hq_card("2603020000123", "急送订单超时风险", "付款 31 分钟，还没有出发配送；距承诺还剩 29 分钟", "abc" * 8),
    ]
    for card in cards:
        assert len(card["title"].encode()) <= 128 and len(card["description"].encode()) <= 512
        assert len(card["btntxt"]) <= 4 and card["url"].startswith("http")
    assert "1.2 公里" in cards[0]["description"]


def test_feasibility_accepts_every_line_shape() -> None:
    class Line:
        sku_id, qty = 7, 2

    assert _lines([(1, 2), [3, 4], {"sku_id": 5, "qty": 6}, Line()]) == [(1, 2), (3, 4), (5, 6), (7, 2)]
