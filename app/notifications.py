"""Tell people what finished: an in-app notification, and an email when SMTP is configured."""

from __future__ import annotations

import logging
import smtplib
import uuid
from email.message import EmailMessage

from flask import current_app

from app.extensions import db
from app.models import Notification, User

log = logging.getLogger(__name__)


def notify(
    tenant_id: uuid.UUID, user_id: uuid.UUID | None, kind: str, message: str, link: str | None
) -> Notification:
    """Record a notification for the tenant (and its user), then email that user if possible."""
    note = Notification(tenant_id=tenant_id, user_id=user_id, kind=kind, message=message, link=link)
    db.session.add(note)
    db.session.commit()
    if user_id is not None and current_app.config.get("SMTP_HOST"):
        user = db.session.get(User, user_id)
        if user is not None:
            send_email(user.email, message, f"{message}\n\nOpen it: {public_url(link)}\n")
    return note


def public_url(link: str | None) -> str:
    """An absolute link for emails, on PUBLIC_URL (required in production; a laptop's default
    address without it, as there is no request to take a host from)."""
    base = (current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
    return f"{base}{link or '/'}"


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
