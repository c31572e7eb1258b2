"""Serves files of the local storage through short-lived signed links."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, send_file
from werkzeug.wrappers import Response

from app.storage import LinkExpired, LinkInvalid, LocalStorage, ObjectNotFound

bp = Blueprint("files", __name__)


@bp.route("/files/<token>")
def download(token: str) -> Response:
    """Send the file a signed link names, if the link is intact and not expired."""
    storage = current_app.extensions["storage"]
    if not isinstance(storage, LocalStorage):
        abort(404)
    try:
        key, download_name = storage.resolve_signed_token(token)
        stream = storage.open(key)
    except LinkExpired:
        abort(410, description="This download link has expired. Go back and click Download again.")
    except (LinkInvalid, ObjectNotFound):
        abort(404)
    return send_file(
        stream, as_attachment=True, download_name=download_name or key.rsplit("/", 1)[-1]
    )
