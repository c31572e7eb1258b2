"""Browse the tenant's contacts: a searchable list and one page per contact."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required
from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Contact, CustomField, Segment, Tag, contact_tags, segment_contacts
from app.paging import page_within
from app.search import contains
from app.tenancy import get_scoped_or_404, scoped
from app.web.partials import render_page_or_part

bp = Blueprint("contacts", __name__, url_prefix="/contacts")
PAGE_SIZE = 50


@bp.route("/")
@login_required
def index() -> tuple[str, int]:
    """Contacts, newest first, with search by email, name or company and a tag filter."""
    q = request.args.get("q", "").strip()
    tag_name = request.args.get("tag", "").strip()
    stmt = scoped(Contact)
    if q:
        stmt = stmt.where(
            or_(
                contains(Contact.email_normalized, q),
                contains(func.lower(Contact.first_name), q),
                contains(func.lower(Contact.last_name), q),
                contains(func.lower(Contact.company), q),
            )
        )
    if tag_name:
        tag_ids = scoped(Tag, Tag.id).where(Tag.name_normalized == tag_name.lower())
        stmt = stmt.where(
            Contact.id.in_(
                select(contact_tags.c.contact_id).where(contact_tags.c.tag_id.in_(tag_ids))
            )
        )
    page = page_within(
        stmt.order_by(Contact.created_at.desc(), Contact.id),
        request.args.get("page", 1, type=int) or 1,
        PAGE_SIZE,
    )
    tags = db.session.scalars(scoped(Tag).order_by(Tag.name)).all()
    return render_page_or_part(
        "contacts/index.html",
        "contacts/_table.html",
        page=page,
        q=q,
        tag=tag_name,
        tags=tags,
    )


@bp.route("/<contact_id>")
@login_required
def detail(contact_id: str) -> str:
    """One contact with its custom fields, tags and segments."""
    contact = get_scoped_or_404(Contact, contact_id)
    fields = db.session.scalars(scoped(CustomField).order_by(CustomField.label)).all()
    return render_template("contacts/detail.html", contact=contact, custom_fields=fields)


@bp.route("/segments")
@login_required
def segments() -> str:
    """The tenant's segments with their sizes, each with links to its contacts and an export."""
    rows = db.session.execute(
        scoped(
            Segment,
            Segment.id,
            Segment.name,
            Segment.created_at,
            func.count(segment_contacts.c.contact_id),
        )
        .outerjoin(segment_contacts, segment_contacts.c.segment_id == Segment.id)
        .group_by(Segment.id, Segment.name, Segment.created_at)
        .order_by(Segment.name)
    ).all()
    return render_template("contacts/segments.html", segments=rows)
