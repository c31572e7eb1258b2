"""Whether a request came from htmx, for views that answer it with a part of their page.

`htmx_flask` adds `request.htmx` at run time (false outside htmx, else with the request's
headers: its target, trigger, ...); type checkers do not see it, so views ask here.
"""

from __future__ import annotations

from typing import Any

from flask import request


def htmx() -> Any:
    """`request.htmx`: false for a plain request, else its htmx headers (`.target`, ...)."""
    return getattr(request, "htmx", None) or None


def is_htmx() -> bool:
    """True when htmx sent the request: the view answers with the part it swaps in."""
    return bool(htmx())
