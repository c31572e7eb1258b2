"""Tell people what finished: an in-app notification, and an email when SMTP is configured."""

from __future__ import annotations

import logging
import smtplib
import uuid
from email.message import EmailMessage

from flask import current_app
from werkzeug.routing import BuildError

from app.extensions import db
from app.models import Notification, NotifiedObject, User

log = logging.getLogger(__name__)


def notify(
    tenant_id: uuid.UUID,
    user_id: uuid.UUID | None,
    kind: str,
    message: str,
    about: tuple[NotifiedObject, uuid.UUID] | None,
) -> Notification:
    """Record a notification for the tenant (and its user) about an import or an export, then
    email that user if possible. It keeps what it is about, never a URL: pages are the web's."""
    object_kind, object_id = about or (None, None)
    note = Notification(
        tenant_id=tenant_id,
        user_id=user_id,
        kind=kind,
        message=message,
        object_kind=object_kind,
        object_id=object_id,
    )
    db.session.add(note)
    db.session.commit()
    if user_id is not None and current_app.config.get("SMTP_HOST"):
        user = db.session.get(User, user_id)
        if user is not None:
            send_email(user.email, message, f"{message}\n\nOpen it: {public_url(note)}\n")
    return note


def public_url(note: Notification) -> str:
    """The notification's own page as an absolute link for emails (opening it marks it read and
    goes on to what it is about), on PUBLIC_URL (required in production; a laptop's default
    address without it, as there is no request to take a host from)."""
    base = (current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
    try:
        path = current_app.url_map.bind("localhost").build(
            "notifications.open_note", {"note_id": str(note.id)}
        )
    except BuildError:  # an app without the notifications pages: its home
        path = "/"
    return f"{base}{path}"


def send_email(to: str, subject: str, body: str) -> bool:
    """Send a plain-text email through the configured SMTP server; False (logged) when it fails."""
    config = current_app.config
    msg = EmailMessage()
    msg["From"] = config["MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = subject[:200]
    msg.set_content(body)
    try:
        with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=10) as smtp:
            if config.get("SMTP_STARTTLS") and smtp.has_extn("starttls"):
                smtp.starttls()
            if config.get("SMTP_USERNAME"):
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            smtp.send_message(msg)
        return True
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("email to %s not sent: %s", to, exc)
        return False
