"""Server-drawn charts: points scale to the largest value, labels are escaped, bars are clamped."""

from __future__ import annotations

import re

from web.svg_charts import PAD_B, PAD_T, H, bar_chart, line_chart


def test_line_chart_scales_to_the_top_value_and_labels_in_yuan() -> None:
    svg = line_chart(["11-01", "11-02", "11-03"], {"成交": [0, 500, 1000], "退款": [0, 0, 250]})
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2 and "¥10.00" in svg  # the axis top is the largest value, in yuan
    points = re.search(r'data-name="成交"[^>]*points="([^"]+)"', svg)
    assert points is not None
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    assert ys[0] == H - PAD_B and ys[2] == PAD_T  # zero on the axis, the top value at the top
    assert abs(ys[1] - (PAD_T + (H - PAD_B - PAD_T) / 2)) < 0.1


def test_names_are_escaped_and_bars_clamped() -> None:
    svg = bar_chart([("<b>店</b>", 120.0), ("乙店", 50.0)])
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    widths = [float(w) for w in re.findall(r'class="bar" x="\d+" y="\d+" width="([\d.]+)"', svg)]
    assert widths[0] == 2 * widths[1]  # 120 % is drawn as 100 %
    assert line_chart(["a"], {"<x>": [3]}, money=False).count("&lt;x&gt;") >= 1
