"""Whether a request came from htmx, for views that answer it with a part of their page, and
the answer of a view that is either the part (htmx) or the whole page.

`htmx_flask` adds `request.htmx` at run time (false outside htmx, else with the request's
headers: its target, trigger, ...); type checkers do not see it, so views ask here.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request


def htmx() -> Any:
    """`request.htmx`: false for a plain request, else its htmx headers (`.target`, ...)."""
    return getattr(request, "htmx", None) or None


def is_htmx() -> bool:
    """True when htmx sent the request: the view answers with the part it swaps in."""
    return bool(htmx())


def render_page_or_part(
    page_template: str, part_template: str, /, *, page_status: int = 200, **context: Any
) -> tuple[str, int]:
    """The part an htmx request swaps in, else the whole page, both from the same `context`.

    `page_status` is the whole page's (422 for a form with errors): the part always answers 200,
    since htmx swaps only a successful answer.
    """
    if is_htmx():
        return render_template(part_template, **context), 200
    return render_template(page_template, **context), page_status
