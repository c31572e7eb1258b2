"""Sign-in and sign-out."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from app.extensions import db, limiter
from app.models import User
from app.models.types import utcnow
from app.web.auth.forms import LoginForm

bp = Blueprint("auth", __name__)

TOO_MANY_FAILURES = (
    "Too many failed sign-in attempts. Wait 15 minutes and try again, "
    "or ask your administrator to reset your password."
)


def _email_key() -> str:
    """The email typed in the sign-in form, as the rate limits count it."""
    return (request.form.get("email") or "").strip().lower()[:320] or "-"


def _email_and_address_key() -> str:
    return f"{_email_key()}|{get_remote_address()}"


def _failed(response: Response) -> bool:
    """Only failed sign-ins (401) count towards the limits, never successful ones."""
    return response.status_code == 401


FAILED_SIGN_IN_LIMITS = {
    "email+address": ("5 per 15 minutes", _email_and_address_key),
    "email": ("20 per 15 minutes", _email_key),  # one account tried from many addresses
    "address": ("50 per 15 minutes", get_remote_address),  # many accounts from one address
}


def limit_failed_sign_ins(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse sign-in posts with 429 once one of the failure limits is reached."""
    for scope, (rate, key) in FAILED_SIGN_IN_LIMITS.items():
        view = limiter.limit(
            rate,
            key_func=key,
            scope=scope,
            methods=["POST"],
            deduct_when=_failed,
            error_message=TOO_MANY_FAILURES,
        )(view)
    return view


@bp.after_request
def _retry_after(response: Response) -> Response:
    """A refused sign-in (429) says in how many seconds the limit that refused it resets."""
    current = limiter.current_limit
    if response.status_code == 429 and current is not None:
        response.headers["Retry-After"] = str(max(1, int(current.reset_at - time.time())))
    return response


@cache
def _dummy_hash() -> str:
    """A hash made exactly as real ones are, checked when the email is unknown.

    A wrong email must cost the same time as a wrong password, so the response time does not
    tell which emails have accounts.
    """
    return generate_password_hash(secrets.token_urlsafe(16))


@bp.record_once
def _make_dummy_hash(state: BlueprintSetupState) -> None:
    """Hash once at start-up, so not even the first unknown email takes longer."""
    _dummy_hash()


def safe_next(target: str | None) -> str:
    """Only follow `next` to a path on this site."""
    if not target:
        return url_for("main.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("main.dashboard")
    return target


@bp.route("/login", methods=["GET", "POST"])
@limit_failed_sign_ins
def login() -> str | Response:
    """Show the sign-in form and sign the user in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        password = form.password.data or ""
        matches = (
            user.check_password(password)
            if user is not None
            else check_password_hash(_dummy_hash(), password)
        )
        if user is not None and matches and user.active:
            login_user(user, remember=form.remember.data)
            user.last_login_at = utcnow()
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
        error = "That email and password do not match an account. Check them and try again."
    return render_template("auth/login.html", form=form, error=error), 200 if not error else 401


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    """Sign out and go back to the sign-in page."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
