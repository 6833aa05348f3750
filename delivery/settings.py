"""Dispatch thresholds: every number the dispatch rules use, as settings (env prefix DISPATCH_)."""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Strategy = Literal["capacity_aware", "nearest_first"]


class DispatchSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DISPATCH_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    promise_min: int = Field(60, ge=10, le=240)  # promise_at = paid_at + this
    offer_deadline_s: int = Field(180, ge=10, le=3600)  # a store has this long to claim or decline
    # Ring n offers the next ring_sizes[n] stores whose distance is at most ring_radii_m[n].
    ring_sizes: tuple[int, ...] = (3, 5, 8)
    ring_radii_m: tuple[int, ...] = (3000, 6000, 15000)
    candidate_limit: int = Field(40, ge=1, le=200)  # nearest stores looked at per decision
    # Stores within the same band of distance are ranked by their current load (capacity-aware ranking).
    load_band_m: int = Field(300, ge=1)
    strategy: Strategy = "capacity_aware"
    # Nobody free right now but a store near enough is only paused or full: look again after this long,
    # while that store (and HQ, if it can) would still keep the promise.
    capacity_retry_s: int = Field(60, ge=10, le=600)
    # The ETA model that decides whether a store (or HQ) can still keep the promise.
    prep_estimate_min: float = Field(10.0, ge=0)
    speed_kmh: float = Field(15.0, gt=0)
    road_factor: float = Field(1.3, ge=1)
    handoff_min: float = Field(3.0, ge=0)
    # Risk monitor: minutes after payment by which the order should be claimed / out / delivered.
    risk_claim_min: int = 10
    risk_out_min: int = 30
    risk_delivered_min: int = 50
    # Wrong handoff codes: at most this many within the window, then 429 until the window passes.
    handoff_max_failures: int = Field(5, ge=1)
    handoff_window_min: int = Field(15, ge=1)
    busy_max_min: int = Field(240, ge=1)  # a busy pause ends by itself after at most this long
    notify_staff: bool = True  # WeCom text cards through the outbox
    live_updates: bool = True  # Redis pub/sub for the staff console's SSE stream

    @model_validator(mode="after")
    def _check(self) -> DispatchSettings:
        if not self.ring_sizes or len(self.ring_sizes) != len(self.ring_radii_m):
            raise ValueError("DISPATCH_RING_SIZES and DISPATCH_RING_RADII_M need the same number of rings (≥ 1)")
        if any(n < 1 for n in self.ring_sizes) or any(r < 1 for r in self.ring_radii_m):
            raise ValueError("ring sizes and radii must be positive")
        return self

    @property
    def max_rings(self) -> int:
        return 1 if self.strategy == "nearest_first" else len(self.ring_sizes)

    def travel_min(self, distance_m: float) -> float:
        return distance_m * self.road_factor / 1000 / self.speed_kmh * 60


_overrides: dict[str, Any] = {}


@functools.cache
def _load() -> DispatchSettings:
    return DispatchSettings(**_overrides)  # type: ignore[arg-type]


def dispatch_settings() -> DispatchSettings:
    return _load()


def override_dispatch_settings(**values: Any) -> DispatchSettings:
    """Tests and the simulation change thresholds in-process; `reset_dispatch_settings()` undoes it."""
    _overrides.update(values)
    _load.cache_clear()
    return _load()


def reset_dispatch_settings() -> None:
    _overrides.clear()
    _load.cache_clear()
