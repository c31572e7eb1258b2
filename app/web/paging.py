"""Which page of a numbered list to show: the one asked for, kept within the pages there are."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request


@dataclass(frozen=True)
class PageChoice:
    """A page of a list of `total` items, `size` a page: its number (from 1) and the page count."""

    number: int
    pages: int
    size: int

    @property
    def offset(self) -> int:
        """How many items come before this page (never more than the list holds)."""
        return (self.number - 1) * self.size


def chosen_page(total: int, size: int) -> PageChoice:
    """The `?page=` asked for, from 1 to the last page: a page past the end (or an absurd number
    no database OFFSET can take) shows the last page, and an empty list has its one empty page."""
    pages = max((total + size - 1) // size, 1)
    asked = request.args.get("page", 1, type=int) or 1
    return PageChoice(number=min(max(asked, 1), pages), pages=pages, size=size)
