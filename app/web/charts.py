"""Bar charts drawn on the server: the share and drawn width of each bar, in percent of the chart.

Templates draw them as SVG rectangles (templates/_charts.html); the CSP forbids inline
styles, so widths go in SVG attributes and colours come from a CSS class per kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MIN_WIDTH = 1.5  # percent: a single row among a million still shows as a sliver


@dataclass(frozen=True)
class BarSegment:
    """One coloured bar: what it counts, its true share, and where and how wide it is drawn."""

    kind: str  # a CSS class suffix: created, updated, unchanged, skipped, refused, field
    label: str
    count: int
    share: float  # count / total * 100, for the text
    x: float  # where the bar starts, in percent of the chart's width
    width: float  # its drawn width in percent: at least MIN_WIDTH when the count is not zero

    @property
    def share_text(self) -> str:
        """The share as people read it: '62%', or '<1%' for a tiny one that is not zero."""
        return "<1%" if 0 < self.share < 1 else f"{round(self.share)}%"


def stacked_bar(
    parts: Iterable[tuple[str, str, int]], min_width: float = MIN_WIDTH
) -> list[BarSegment]:
    """Segments of one bar split by (kind, label, count), side by side, widths summing to 100.

    Zero counts are left out; a small count is drawn `min_width` wide and the others give up
    that room in proportion to their size.
    """
    shown = [(kind, label, count) for kind, label, count in parts if count > 0]
    if not shown:
        return []
    total = sum(count for _, _, count in shown)
    floor = min(min_width, 100 / len(shown))
    widths = _widths([count for _, _, count in shown], total, 100.0, floor)
    segments, x = [], 0.0
    for (kind, label, count), width in zip(shown, widths, strict=True):
        segments.append(BarSegment(kind, label, count, count * 100 / total, round(x, 3), width))
        x += width
    return segments


def _widths(counts: list[int], total: int, room: float, floor: float) -> list[float]:
    """Widths proportional to counts within `room`, none under `floor`, rounded, summing to room."""
    raised: set[int] = set()
    while True:
        rest = sum(c for i, c in enumerate(counts) if i not in raised)
        space = room - floor * len(raised)
        small = {i for i, c in enumerate(counts) if i not in raised and c * space / rest < floor}
        if not small:
            break
        raised |= small
    widths = [floor if i in raised else round(c * space / rest, 3) for i, c in enumerate(counts)]
    # Rounding may leave a thousandth over or under: the widest bar absorbs it.
    widest = max(range(len(widths)), key=widths.__getitem__)
    widths[widest] = round(room - sum(w for i, w in enumerate(widths) if i != widest), 3)
    return widths


def share_bars(
    parts: Iterable[tuple[str, int]], whole: int, min_width: float = MIN_WIDTH
) -> list[BarSegment]:
    """One bar per (label, count), each as wide as its share of `whole` (e.g. updated contacts).

    Zero counts are left out; a non-zero count is at least `min_width` wide.
    """
    shown = [(label, count) for label, count in parts if count > 0]
    whole = max([whole, *(count for _, count in shown)])
    return [
        BarSegment(
            "field",
            label,
            count,
            count * 100 / whole,
            0.0,
            round(max(count * 100 / whole, min_width), 3),
        )
        for label, count in shown
    ]
