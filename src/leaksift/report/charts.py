"""Charts as inline SVG strings: plain data in, markup out, every label escaped.

Shared by the HTML report and the web app. No script, no external font or style: the SVG carries its own
colours and uses the page's font. Each bar is a `<g class="bar">` with `data-label` and `data-total`, so tests
(and readers of the source) can count bars and check values without rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any, Iterable, Mapping, Sequence

VERDICT_ORDER = ("verified", "consistent", "suspicious", "tampered", "unreadable")
VERDICT_COLORS = {"verified": "#2e7d32", "consistent": "#9fb3c8", "suspicious": "#ef8f00",
                  "tampered": "#c62828", "unreadable": "#7b4fa0"}
OTHER_COLOR = "#607d8b"
MAX_GAP_FILL_DAYS = 3700  # a timeline over ten years shows only the days that have messages
LABEL_CHARS = 38

Stack = Mapping[str, int]


@dataclass
class RateRow:
    label: str
    part: int  # e.g. messages whose signature proves them
    total: int  # e.g. messages signed by the domain
    note: str = ""  # extra words after the figures


def esc(value: Any) -> str:
    """Text safe inside SVG/HTML text and double-quoted attributes."""
    return escape(str(value), quote=True)


def color(series: str) -> str:
    return VERDICT_COLORS.get(series, OTHER_COLOR)


def pivot(rows: Iterable[Mapping[str, Any]], key: str, series: str = "verdict",
          value: str = "items") -> list[tuple[str, dict[str, int]]]:
    """Store rows like {day, verdict, items} to [(day, {verdict: items})], in first-seen key order."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        stack = out.setdefault(str(r[key]), {})
        stack[str(r[series])] = stack.get(str(r[series]), 0) + int(r[value] or 0)
    return list(out.items())


def _short(label: str, n: int = LABEL_CHARS) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _svg(width: int, height: int, title: str, body: list[str], css_class: str) -> str:
    return (f'<svg class="chart {esc(css_class)}" viewBox="0 0 {width} {height}" '
            f'width="100%" role="img" font-family="inherit" font-size="12">'
            f"<title>{esc(title)}</title>{''.join(body)}</svg>")


def _legend(series: Sequence[str], x: int, y: int) -> list[str]:
    out = []
    for s in series:
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color(s)}"/>'
                   f'<text x="{x + 14}" y="{y}">{esc(s)}</text>')
        x += 24 + 7 * len(s)
    return out


def _order(stacks: Iterable[Stack]) -> list[str]:
    seen = {s for st in stacks for s in st}
    return [v for v in VERDICT_ORDER if v in seen] + sorted(seen - set(VERDICT_ORDER))


def _fill_days(days: Sequence[tuple[str, Stack]]) -> list[tuple[str, Stack]]:
    """Every day between the first and the last, empty ones included, so the x axis is time."""
    try:
        first, last = date.fromisoformat(days[0][0]), date.fromisoformat(days[-1][0])
    except ValueError:
        return list(days)
    span = (last - first).days
    if span < 0 or span > MAX_GAP_FILL_DAYS:
        return list(days)
    have = dict(days)
    return [(d, have.get(d, {})) for d in ((first + timedelta(n)).isoformat() for n in range(span + 1))]


def timeline(days: Sequence[tuple[str, Stack]], title: str = "Messages per day, by verdict",
             width: int = 1000, height: int = 240) -> str:
    """Vertical stacked bars, one per day (ISO dates, sorted), coloured by verdict."""
    if not days:
        return _svg(width, 40, title, ['<text x="10" y="24">No dated messages.</text>'], "timeline")
    days = _fill_days(sorted(days))
    series = _order(st for _, st in days)
    left, top, bottom = 40, 24, 36
    plot_w, plot_h = width - left - 10, height - top - bottom
    peak = max((sum(st.values()) for _, st in days), default=1) or 1
    step = plot_w / len(days)
    bar_w = max(step * 0.85, 0.5)
    body = _legend(series, left, 14)
    body.append(f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>'
                f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>'
                f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>')
    label_every = max(1, round(len(days) / 8))
    for n, (day, stack) in enumerate(days):
        x = left + n * step
        total = sum(stack.values())
        body.append(f'<g class="bar" data-label="{esc(day)}" data-total="{total}"><title>{esc(day)}: {total} '
                    f'({esc(", ".join(f"{stack[s]} {s}" for s in series if stack.get(s)))})</title>')
        y = top + plot_h
        for s in series:
            h = stack.get(s, 0) / peak * plot_h
            if h > 0:
                y -= h
                body.append(f'<rect class="seg" data-series="{esc(s)}" x="{x:.2f}" y="{y:.2f}" '
                            f'width="{bar_w:.2f}" height="{h:.2f}" fill="{color(s)}"/>')
        body.append("</g>")
        if n % label_every == 0:
            body.append(f'<text x="{x:.2f}" y="{top + plot_h + 16}" font-size="10">{esc(day)}</text>')
    return _svg(width, height, title, body, "timeline")


def stacked_rows(rows: Sequence[tuple[str, Stack]], title: str, width: int = 1000, max_rows: int = 25) -> str:
    """Horizontal stacked bars, one per label, biggest first; rows past max_rows are summed into one."""
    ranked = sorted(rows, key=lambda r: (-sum(r[1].values()), r[0]))
    if len(ranked) > max_rows:
        rest: dict[str, int] = {}
        for _, st in ranked[max_rows - 1:]:
            for s, n in st.items():
                rest[s] = rest.get(s, 0) + n
        ranked = ranked[: max_rows - 1] + [(f"{len(rows) - max_rows + 1} more", rest)]
    if not ranked:
        return _svg(width, 40, title, ['<text x="10" y="24">Nothing to show.</text>'], "stacked")
    series = _order(st for _, st in ranked)
    left, top, row_h = 280, 28, 22
    plot_w = width - left - 70
    peak = max(sum(st.values()) for _, st in ranked) or 1
    body = _legend(series, left, 14)
    for n, (label, stack) in enumerate(ranked):
        y = top + n * row_h
        total = sum(stack.values())
        body.append(f'<g class="bar" data-label="{esc(label)}" data-total="{total}"><title>{esc(label)}: '
                    f'{esc(", ".join(f"{stack[s]} {s}" for s in series if stack.get(s)))}</title>'
                    f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{esc(_short(label))}</text>')
        x = float(left)
        for s in series:
            w = stack.get(s, 0) / peak * plot_w
            if w > 0:
                body.append(f'<rect class="seg" data-series="{esc(s)}" x="{x:.2f}" y="{y + 3}" width="{w:.2f}" '
                            f'height="{row_h - 6}" fill="{color(s)}"/>')
                x += w
        body.append(f'<text x="{x + 6:.2f}" y="{y + 14}">{total}</text></g>')
    return _svg(width, top + len(ranked) * row_h + 8, title, body, "stacked")


def rate_bars(rows: Sequence[RateRow], title: str, width: int = 1000, part_name: str = "proven",
              max_rows: int = 25) -> str:
    """One bar per label: the part (green) against the whole (grey track), with the figures written beside."""
    rows = list(rows)[:max_rows]
    if not rows:
        return _svg(width, 40, title, ['<text x="10" y="24">Nothing to show.</text>'], "rates")
    left, top, row_h = 280, 10, 24
    plot_w = width - left - 300
    peak = max(r.total for r in rows) or 1
    body = []
    for n, r in enumerate(rows):
        y = top + n * row_h
        share = r.part / r.total if r.total else 0.0
        whole_w, part_w = r.total / peak * plot_w, r.part / peak * plot_w
        words = f"{r.part} of {r.total} {part_name} ({share:.0%})" + (f"; {r.note}" if r.note else "")
        body.append(f'<g class="bar" data-label="{esc(r.label)}" data-total="{r.total}" data-part="{r.part}">'
                    f'<title>{esc(r.label)}: {esc(words)}</title>'
                    f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{esc(_short(r.label))}</text>'
                    f'<rect x="{left}" y="{y + 4}" width="{whole_w:.2f}" height="{row_h - 8}" fill="#d7dde3"/>'
                    f'<rect class="seg" data-series="{esc(part_name)}" x="{left}" y="{y + 4}" width="{part_w:.2f}" '
                    f'height="{row_h - 8}" fill="{VERDICT_COLORS["verified"]}"/>'
                    f'<text x="{left + whole_w + 6:.2f}" y="{y + 15}">{esc(words)}</text></g>')
    return _svg(width, top + len(rows) * row_h + 6, title, body, "rates")
