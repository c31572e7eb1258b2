"""API endpoints; every view authenticates with a bearer token and reads through the tenant scope."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify
from sqlalchemy import func

from app.extensions import csrf, db
from app.models import Contact
from app.tenancy import scoped
from app.web.api.auth import token_required

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)


@bp.get("/me")
@token_required
def me() -> Any:
    """Who the token acts as, and its tenant."""
    user = g.api_user
    count = db.session.scalar(scoped(Contact, func.count(Contact.id)))
    return jsonify(
        user={"id": str(user.id), "email": user.email, "role": user.role},
        tenant={"id": str(user.tenant_id), "name": user.tenant.name, "contactCount": count},
    )
