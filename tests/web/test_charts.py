"""The arithmetic of the server-drawn bar charts: plain values in, widths in percent out."""

from __future__ import annotations

import pytest

from app.web.charts import MIN_WIDTH, share_bars, stacked_bar


def outcome(created: int, updated: int, unchanged: int, skipped: int, refused: int) -> list:
    return stacked_bar(
        [
            ("created", "created", created),
            ("updated", "updated", updated),
            ("unchanged", "unchanged", unchanged),
            ("skipped", "skipped", skipped),
            ("refused", "refused", refused),
        ]
    )


@pytest.mark.parametrize(
    "counts",
    [
        (620, 250, 100, 20, 10),
        (1, 0, 0, 0, 0),
        (3, 3, 3, 0, 1),
        (999_996, 1, 1, 1, 1),
        (7, 0, 0, 0, 2),
    ],
)
def test_segments_fill_the_bar_exactly_side_by_side(counts: tuple[int, ...]) -> None:
    segments = outcome(*counts)
    assert sum(s.width for s in segments) == pytest.approx(100, abs=1e-6)
    assert sum(s.share for s in segments) == pytest.approx(100)
    x = 0.0
    for s in segments:
        assert s.x == pytest.approx(x, abs=1e-3)  # each starts where the one before ends
        x += s.width


def test_zero_counts_are_left_out_and_the_order_is_kept() -> None:
    segments = outcome(5, 0, 3, 0, 2)
    assert [(s.kind, s.count) for s in segments] == [
        ("created", 5),
        ("unchanged", 3),
        ("refused", 2),
    ]
    assert [s.width for s in segments] == [50, 30, 20]
    assert [s.share_text for s in segments] == ["50%", "30%", "20%"]


def test_nothing_to_draw_gives_no_segments() -> None:
    assert outcome(0, 0, 0, 0, 0) == []
    assert share_bars([("Company", 0)], 0) == []


def test_a_tiny_count_stays_visible_and_its_text_says_under_one_percent() -> None:
    segments = outcome(1_000_000, 0, 0, 0, 1)
    refused = segments[-1]
    assert refused.width == MIN_WIDTH and refused.share < 0.001
    assert refused.share_text == "<1%"
    assert segments[0].width == pytest.approx(100 - MIN_WIDTH)


def test_several_tiny_counts_each_get_the_minimum_and_the_big_ones_shrink_in_proportion() -> None:
    segments = outcome(600_000, 400_000, 1, 1, 1)
    assert [s.width for s in segments[2:]] == [MIN_WIDTH] * 3
    room = 100 - 3 * MIN_WIDTH
    assert segments[0].width == pytest.approx(room * 0.6, abs=1e-3)
    assert segments[1].width == pytest.approx(room * 0.4, abs=1e-3)


def test_field_bars_are_shares_of_the_whole_with_a_visible_minimum() -> None:
    bars = share_bars([("Company", 412), ("Phone", 1000), ("Town", 0), ("Last name", 1)], 1000)
    assert [(b.label, b.count) for b in bars] == [
        ("Company", 412),
        ("Phone", 1000),
        ("Last name", 1),
    ]
    assert [b.width for b in bars] == [41.2, 100, MIN_WIDTH]
    assert all(b.x == 0 and b.kind == "field" for b in bars)
    # a count larger than the whole given (never expected) still fits the chart
    assert share_bars([("Company", 30)], 10)[0].width == 100
