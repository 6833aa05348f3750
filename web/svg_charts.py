"""Charts drawn server-side as inline SVG (no chart library, no JavaScript): daily lines and per-store bars."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from core.money import format_yuan

COLOURS = ("#07c160", "#e64340", "#1989fa", "#ff976a", "#7232dd")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 720, 180, 64, 12, 24, 28


def line_chart(labels: Sequence[str], series: dict[str, Sequence[int]], *, money: bool = True, title: str = "") -> str:
    """One line per series over the labels (days); values in fen are labelled in yuan."""
    n = len(labels)
    top = max([1, *(v for vals in series.values() for v in vals)])
    width, height = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(i: int) -> float:
        return PAD_L + (width * i / (n - 1) if n > 1 else width / 2)

    def y(v: int) -> float:
        return PAD_T + height - height * v / top

    def label(v: int) -> str:
        return format_yuan(v) if money else str(v)

    out = [
        f'<svg viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}">',
        f'<line x1="{PAD_L}" y1="{PAD_T + height}" x2="{W - PAD_R}" y2="{PAD_T + height}" stroke="#ccc"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{W - PAD_R}" y2="{PAD_T}" stroke="#eee"/>',
        f'<text x="{PAD_L - 4}" y="{PAD_T + 4}" text-anchor="end" font-size="11" fill="#888">{escape(label(top))}</text>',
        f'<text x="{PAD_L - 4}" y="{PAD_T + height}" text-anchor="end" font-size="11" fill="#888">0</text>',
    ]
    step = max(1, n // 6)
    for i in range(0, n, step):
        out.append(
            f'<text x="{x(i):.1f}" y="{H - 8}" text-anchor="middle" font-size="11" fill="#888">{escape(labels[i])}</text>'
        )
    for k, (name, vals) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
        out.append(
            f'<polyline class="series" data-name="{escape(name)}" fill="none" stroke="{colour}" '
            f'stroke-width="2" points="{points}"/>'
        )
        for i, v in enumerate(vals):
            if v:
                out.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                    f"<title>{escape(labels[i])} {escape(name)} {escape(label(v))}</title></circle>"
                )
        out.append(
            f'<rect x="{PAD_L + 10 + k * 110}" y="6" width="10" height="10" fill="{colour}"/>'
            f'<text x="{PAD_L + 24 + k * 110}" y="15" font-size="12">{escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def bar_chart(rows: Sequence[tuple[str, float]], *, unit: str = "%", top: float = 100.0, title: str = "") -> str:
    """Horizontal bars, one per row (e.g. SLA % by store)."""
    bar_h, gap, label_w = 18, 6, 150
    height = max(1, len(rows)) * (bar_h + gap) + 10
    width = W - label_w - 60
    out = [
        f'<svg viewBox="0 0 {W} {height}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}">'
    ]
    for i, (name, value) in enumerate(rows):
        y0 = 5 + i * (bar_h + gap)
        w = width * max(0.0, min(value, top)) / top if top else 0
        colour = COLOURS[0] if value >= 95 or unit != "%" else (COLOURS[3] if value >= 80 else COLOURS[1])
        out.append(
            f'<text x="{label_w - 6}" y="{y0 + 13}" text-anchor="end" font-size="12">{escape(name[:12])}</text>'
            f'<rect class="bar" x="{label_w}" y="{y0}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y0 + 13}" font-size="12">{value:.1f}{escape(unit)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
