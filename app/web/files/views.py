"""Serves files of the local storage through short-lived signed links."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, g, request, send_file
from flask_login import current_user
from werkzeug.wrappers import Response

from app.storage import LinkExpired, LinkInvalid, LocalStorage, ObjectNotFound, key_belongs_to
from app.web.api.auth import authenticate_token

bp = Blueprint("files", __name__)


@bp.route("/files/<token>")
def download(token: str) -> Response:
    """Send the file a signed link names, if the link is intact, not expired and ours.

    The link alone is not enough: the visitor must also be signed in (or send an API token)
    as a member of the tenant whose file it is, so a leaked link is refused to anyone else.
    """
    storage = current_app.extensions["storage"]
    if not isinstance(storage, LocalStorage):
        abort(404)
    tenant_id = _requesting_tenant()
    if tenant_id is None:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined, no-any-return]
    try:
        key, download_name = storage.resolve_signed_token(token)
        if not key_belongs_to(key, tenant_id):
            raise LinkInvalid()
        stream = storage.open(key)
    except LinkExpired:
        abort(410, description="This download link has expired. Go back and click Download again.")
    except (LinkInvalid, ObjectNotFound):
        abort(404)
    return send_file(
        stream, as_attachment=True, download_name=download_name or key.rsplit("/", 1)[-1]
    )


def _requesting_tenant() -> uuid.UUID | None:
    """The tenant of the API token sent, else of the signed-in user; None for a stranger."""
    if request.headers.get("Authorization"):
        failure = authenticate_token()
        if failure is not None:
            abort(401)
        return g.tenant_id  # type: ignore[no-any-return]
    if current_user.is_authenticated:
        return current_user.tenant_id
    return None
