"""`render_page_or_part`: an htmx request gets the part it swaps in, any other the whole page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from jinja2 import BaseLoader, ChoiceLoader, DictLoader

from app.web.partials import render_page_or_part

HTMX = {"HX-Request": "true"}


@pytest.fixture
def templates(app: Flask) -> Iterator[None]:
    """A page and its part, beside the app's own templates."""
    own = app.jinja_env.loader
    assert isinstance(own, BaseLoader)
    app.jinja_env.loader = ChoiceLoader(
        [DictLoader({"page.html": "page of {{ name }}", "_part.html": "part of {{ name }}"}), own]
    )
    yield
    app.jinja_env.loader = own


@pytest.mark.usefixtures("templates")
def test_a_plain_request_gets_the_whole_page_with_its_status(app: Flask) -> None:
    with app.test_request_context("/"):
        assert render_page_or_part("page.html", "_part.html", name="x") == ("page of x", 200)
        answer = render_page_or_part("page.html", "_part.html", page_status=422, name="x")
        assert answer == ("page of x", 422)


@pytest.mark.usefixtures("templates")
def test_an_htmx_request_gets_the_part_and_a_200_htmx_swaps(app: Flask) -> None:
    with app.test_request_context("/", headers=HTMX):
        answer = render_page_or_part("page.html", "_part.html", page_status=422, name="y")
        assert answer == ("part of y", 200)


@pytest.mark.usefixtures("templates")
def test_the_context_may_name_a_status_or_a_page(app: Flask) -> None:
    """The templates are positional-only, so a context key like `page` or `status` is free."""
    with app.test_request_context("/"):
        rendered, _ = render_page_or_part("page.html", "_part.html", name="z", page=2, status="")
        assert rendered == "page of z"
