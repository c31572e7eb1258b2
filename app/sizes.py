"""File sizes as people read them ("10 MB", "120.6 KB"): the one rule for pages and messages."""

from __future__ import annotations

_UNITS = ("KB", "MB", "GB")


def format_size(size: int | None) -> str:
    """Bytes as '10 MB' or '120.6 KB' (one decimal, none when it is 0); None -> '–'.

    The unit changes where the rounded figure would read 1024, so 1,048,575 bytes is '1 MB',
    not '1024 KB'.
    """
    if size is None:
        return "–"
    if size < 1024:
        return f"{size} byte{'' if size == 1 else 's'}"
    value = size / 1024
    for unit in _UNITS:
        if round(value, 1) < 1024 or unit == _UNITS[-1]:
            break
        value /= 1024
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"
