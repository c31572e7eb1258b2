"""The dashboard, the health check and the icon."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from flask_login import login_required
from sqlalchemy import func, text
from werkzeug.wrappers import Response

from app.extensions import db
from app.jobs.queue import redis_connection
from app.models import Contact, ExportJob, ImportJob, ImportStatus
from app.tenancy import scoped

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def dashboard() -> str:
    """The tenant's contact count and its latest imports and exports."""
    contact_count = db.session.scalar(scoped(Contact, func.count(Contact.id)))
    imports = db.session.scalars(
        scoped(ImportJob)
        .where(ImportJob.status != ImportStatus.DRAFT)
        .order_by(ImportJob.created_at.desc())
        .limit(5)
    ).all()
    exports = db.session.scalars(
        scoped(ExportJob).order_by(ExportJob.created_at.desc()).limit(5)
    ).all()
    return render_template(
        "main/dashboard.html", contact_count=contact_count, imports=imports, exports=exports
    )


@bp.route("/favicon.ico")
def favicon() -> Response:
    """The icon, for clients that ask at the old address instead of reading the page's link."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.route("/healthz")
def healthz() -> tuple[Response, int]:
    """JSON state of the database, Redis and storage: 200 when all answer, 503 otherwise."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not healthy"; the message says why
        db.session.rollback()
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        redis_connection().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    try:
        current_app.extensions["storage"].check()
        checks["storage"] = "ok"
    except Exception as exc:
        checks["storage"] = f"error: {exc}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "degraded", checks=checks), 200 if healthy else 503
