"""One page of a numbered list, with Flask-SQLAlchemy's `db.paginate`, kept within the pages there are."""

from __future__ import annotations

from math import ceil
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, select

from app.extensions import db


def page_within(stmt: Select[Any], asked: int, per_page: int) -> Pagination:
    """Page `asked` (from 1) of what `stmt` selects, `per_page` a page.

    `db.paginate` answers a page past the end with no items (or a 404); here such a page, or a
    number no database OFFSET can take, shows the last page, and an empty list its one empty
    page. So the total is counted first, and `paginate` is given the page kept within it.
    """
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    pages = max(ceil((total or 0) / per_page), 1)
    page = db.paginate(
        stmt,
        page=min(max(asked, 1), pages),
        per_page=per_page,
        max_per_page=per_page,
        error_out=False,
        count=False,
    )
    page.total = total or 0
    return page
