"""Each headline figure next to the baseline it should be read against (measured in the same `make bench` run
when both ran in it; otherwise the baseline's run is named)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Comparison:
    scenario: str
    figure: str
    base_scenario: str
    base_figure: str
    reads: str  # what the ratio means


COMPARISONS = (
    Comparison("B0", "live_rps", "B0", "loadgen_ceiling_rps", "our slimmest route vs wrk on a bare ASGI app"),
    Comparison("B0", "health_rps", "B0", "live_rps", "one SELECT 1 + one PING vs no dependency"),
    Comparison("B1", "catalogue_rps", "B1", "live_rps", "catalogue page vs /health/live, same run"),
    Comparison("B1", "search_rps", "B1", "live_rps", "keyword search vs /health/live, same run"),
    Comparison("B2", "orders_per_s", "B2", "pgbench_order_tps", "HTTP orders vs the same SQL in pgbench"),
    Comparison("B2", "orders_per_s", "B0", "pgbench_tpcb_tps", "HTTP orders vs pgbench TPC-B"),
    Comparison("B3", "attempts_per_s", "B0", "live_rps", "flash-sale attempts vs /health/live"),
    Comparison("B4a", "redis_p99_ms", "B4a", "pg_p99_ms", "nearest stores: Redis GEO vs PostgreSQL KNN (p99)"),
    Comparison("B7", "claims_per_s", "B0", "live_rps", "coupon claims vs /health/live"),
    Comparison("B8", "paid_orders_per_s", "B2", "orders_per_s", "paid end to end vs placing only"),
)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def comparisons(data: dict[str, Any], scenario: str | None = None) -> list[dict[str, Any]]:
    """Rows (figure, value, baseline, ratio, same_run) for what `data` holds."""
    rows = []
    for c in COMPARISONS:
        if scenario is not None and c.scenario != scenario:
            continue
        figures, base = data.get(c.scenario) or {}, data.get(c.base_scenario) or {}
        value, baseline = _number(figures.get(c.figure)), _number(base.get(c.base_figure))
        if value is None or baseline is None:
            continue
        rows.append(
            {
                "figure": f"{c.scenario}.{c.figure}",
                "value": value,
                "baseline": f"{c.base_scenario}.{c.base_figure}",
                "baseline_value": baseline,
                "ratio": round(value / baseline, 3) if baseline else None,
                "same_run": figures.get("run_id") is not None and figures.get("run_id") == base.get("run_id"),
                "reads": c.reads,
            }
        )
    return rows
