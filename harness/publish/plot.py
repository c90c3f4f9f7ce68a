"""A small hand-drawn SVG of weekly pass rate, so pages need no charting library or script.

Weeks are placed by date, so a gap in the evidence shows as a gap on the axis; each point
carries a tooltip with its counts. Every piece of text is escaped: the plot is inlined in HTML.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache
from itertools import chain

from markupsafe import Markup, escape

from harness.levels.compute import Week

WIDTH, HEIGHT = 520, 170
LEFT, RIGHT, TOP, BOTTOM = 46, 36, 24, 36
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
PASS, MIXED, FAIL = "#2e7d32", "#ef8f00", "#c62828"
DOTS_FOR_ALL = 26  # weeks; beyond, only weeks with failures get a dot


def merge_weeks(weeks: Iterable[Sequence[Week]]) -> tuple[Week, ...]:
    """Several cells' weeks added up week by week (a combination's or a feature's plot).

    Cells share most of their weeks (one or two runs a week give the same few counts), so the
    equal ones are counted first, in C, and each distinct week is added up once: a big lab's
    plots merge a million and a half weeks."""
    totals: dict[str, list[int]] = {}
    for (start, passed, failed), times in Counter(chain.from_iterable(weeks)).items():
        total = totals.setdefault(start, [0, 0])
        total[0] += passed * times
        total[1] += failed * times
    return tuple(Week(start, p, f) for start, (p, f) in sorted(totals.items()))


def pass_rate_svg(weeks: Sequence[Week], title: str = "Weekly pass rate") -> Markup:
    """The pass rate of each week with results, 0-100 %, as an inline SVG element. Every week
    gets a dot with a tooltip when there are few; with many, only weeks with failures do."""
    shown = [w for w in weeks if w.passed + w.failed]
    if not shown:
        return Markup('<p class="muted">No valid results to plot yet.</p>')
    first = _day(shown[0].start)
    span = _day(shown[-1].start) - first
    if span <= 0:
        xs, ticks = [LEFT + PLOT_W // 2], [(LEFT + PLOT_W // 2, first)]
    else:
        scale = PLOT_W / span
        xs = [LEFT + int((_day(w.start) - first) * scale + 0.5) for w in shown]
        ticks = [(LEFT + int((day - first) * scale + 0.5), day) for day in _ticks(first, span)]
    ys = [TOP + PLOT_H * w.failed // (w.passed + w.failed) for w in shown]
    parts = [_frame(title)]
    for x, day in ticks:
        parts.append(
            f'<line x1="{x}" x2="{x}" y1="{TOP + PLOT_H}" y2="{TOP + PLOT_H + 4}" class="grid"/>'
            f'<text x="{x}" y="{HEIGHT - BOTTOM + 15}" class="xl">{_iso(day)}</text>'
        )
    if len(xs) > 1:
        parts.append(f'<polyline points="{" ".join(map("{},{}".format, xs, ys))}" class="line"/>')
    every = len(shown) <= DOTS_FOR_ALL
    for x, y, week in zip(xs, ys, shown, strict=True):
        if every or week.failed:
            colour = PASS if week.failed == 0 else FAIL if week.passed == 0 else MIXED
            parts.append(
                f'<circle cx="{x}" cy="{y}" r="3.5" fill="{colour}"><title>week of {week.start}: '
                f"{week.passed} of {week.passed + week.failed} passed</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@lru_cache(maxsize=16)
def _frame(title: str) -> str:
    """What every plot with this title shares: the title, grid lines and axis names."""
    parts = [
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f'<text x="{LEFT}" y="14" class="t">{escape(title)}</text>'
    ]
    for rate in (0.0, 0.5, 1.0):
        y = TOP + int(PLOT_H * (1 - rate))
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4}" class="yl">{rate:.0%}</text>'
        )
    parts.append(
        f'<text x="{LEFT + PLOT_W // 2}" y="{HEIGHT - 4}" class="xl">week (Monday, UTC)</text>'
        f'<text transform="translate(11 {TOP + PLOT_H // 2}) rotate(-90)" class="xl">'
        "pass rate</text>"
    )
    return "".join(parts)


@lru_cache(maxsize=4096)
def _iso(day: int) -> str:
    return date.fromordinal(day).isoformat()


@lru_cache(maxsize=4096)
def _day(start: str) -> int:
    """A week's Monday as a day number (parsed once per distinct week)."""
    return date.fromisoformat(start).toordinal()


def _ticks(first: int, span_days: int) -> list[int]:
    """Up to five evenly spaced Mondays from the first week to the last: labels never overlap."""
    weeks = span_days // 7
    count = min(4, weeks) or 1
    return [first + 7 * round(k * weeks / count) for k in range(count + 1)]
