"""File sizes read the same on every page and in every message."""

from __future__ import annotations

import pytest

from app.sizes import format_size

KB, MB, GB = 1024, 1024**2, 1024**3


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (KB - 1, "1023 bytes"),
        (KB, "1 KB"),
        (KB + 512, "1.5 KB"),
        (123_456, "120.6 KB"),
        (MB - 52, "1023.9 KB"),
        (MB - 1, "1 MB"),
        (MB, "1 MB"),
        (10 * MB, "10 MB"),
        (GB - 1, "1 GB"),
        (GB, "1 GB"),
        (1024 * GB, "1024 GB"),
    ],
)
def test_a_size_reads_in_the_largest_unit_it_reaches_with_one_decimal_at_most(
    size: int, text: str
) -> None:
    assert format_size(size) == text


def test_an_unknown_size_reads_as_a_dash() -> None:
    assert format_size(None) == "–"
