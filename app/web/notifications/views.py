"""The notifications list, opening one (marks it read) and marking all read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import Select, func, or_, update
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import Notification, NotifiedObject
from app.tenancy import get_scoped_or_404, scoped

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
LISTED = 50


def _mine(*columns: Any) -> Select[Any]:
    """The signed-in user's notifications: the tenant's general ones and their own."""
    return scoped(Notification, *columns).where(
        or_(Notification.user_id.is_(None), Notification.user_id == current_user.id)
    )


def _safe_link(link: str | None) -> str | None:
    """Only links inside this app (a path, never another site)."""
    if link and link.startswith("/") and not link.startswith("//") and "\\" not in link:
        return link
    return None


def object_link(note: Notification) -> str | None:
    """The page a notification is about: an import's page, an export's entry in the history."""
    if note.object_id is None:
        return None
    if note.object_kind == NotifiedObject.IMPORT:
        return url_for("wizard.job", job_id=note.object_id)
    if note.object_kind == NotifiedObject.EXPORT:
        return url_for("history.index", _anchor=f"export-{note.object_id}")
    return None


@bp.app_context_processor
def notification_helpers() -> dict[str, Any]:
    """`unread_notification_count()` and `recent_notifications()` for every template."""

    def unread_notification_count() -> int:
        if not current_user.is_authenticated:
            return 0
        try:
            return (
                db.session.scalar(
                    _mine(func.count(Notification.id)).where(Notification.read_at.is_(None))
                )
                or 0
            )
        except SQLAlchemyError:  # the header must render even on the database-error page
            db.session.rollback()
            return 0

    def recent_notifications(limit: int = 5) -> list[Notification]:
        if not current_user.is_authenticated:
            return []
        return list(
            db.session.scalars(_mine().order_by(Notification.created_at.desc()).limit(limit))
        )

    return {
        "unread_notification_count": unread_notification_count,
        "recent_notifications": recent_notifications,
    }


@bp.route("/")
@login_required
def index() -> str:
    """The latest notifications, unread first marked."""
    notes = db.session.scalars(_mine().order_by(Notification.created_at.desc()).limit(LISTED)).all()
    return render_template("notifications/index.html", notes=notes)


@bp.route("/<note_id>")
@login_required
def open_note(note_id: str) -> Any:
    """Mark a notification read and go to what it is about."""
    note = get_scoped_or_404(Notification, note_id)
    if note.user_id not in (None, current_user.id):
        abort(404)
    if note.read_at is None:
        note.read_at = datetime.now(UTC)
        db.session.commit()
    return redirect(object_link(note) or url_for("notifications.index"), 303)


@bp.post("/read")
@login_required
def mark_all_read() -> Any:
    """Mark every notification of the user read."""
    ids = _mine(Notification.id).where(Notification.read_at.is_(None))
    db.session.execute(
        update(Notification).where(Notification.id.in_(ids)).values(read_at=datetime.now(UTC))
    )
    db.session.commit()
    back = _safe_link(request.form.get("next"))
    return redirect(back or url_for("notifications.index"), 303)
