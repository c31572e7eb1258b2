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
from flask_login import current_user, login_required
from limits import parse
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from app.extensions import db, limiter
from app.models import User
from app.models.types import utcnow
from app.web.auth import sessions
from app.web.auth.forms import ChangePasswordForm, LoginForm
from app.web.counters import client_network, count, counter, full_for

bp = Blueprint("auth", __name__)

TOO_MANY_FAILURES = (
    "Too many failed sign-in attempts. Wait 15 minutes and try again, "
    "or ask your administrator to reset your password."
)


def _email_key() -> str:
    """The email typed in the sign-in form, as the rate limits count it."""
    return (request.form.get("email") or "").strip().lower()[:320] or "-"


def _email_and_address_key() -> str:
    return f"{_email_key()}|{client_network()}"


def _failed(response: Response) -> bool:
    """Only failed sign-ins (401) count towards the limits, never successful ones."""
    return response.status_code == 401


FAILED_SIGN_IN_LIMITS = {
    "email+address": ("5 per 15 minutes", _email_and_address_key),
    "address": ("50 per 15 minutes", client_network),  # many accounts from one address
}
EMAIL_LOCK = parse("20 per 15 minutes")
"""Failures for one email from any addresses that lock it (see `_email_locked_here`)."""
ANY_FAILURE = parse("1 per 15 minutes")
"""Whether an address has failed to sign in lately."""


def _email_locked_here(email: str) -> int | None:
    """Seconds to wait when the email is locked for this address, or None.

    An email that failed 20 times in 15 minutes, from any addresses, is locked only for the
    addresses that have failed a sign-in themselves: the guessers. Its owner, signing in from an
    address with no failure, still gets through to the password check, so nobody can lock
    somebody else out. A guesser with many addresses gets one try per address and window.
    """
    wait = full_for(EMAIL_LOCK, counter("sign-in", "email", email))
    if (
        wait is None
        or full_for(ANY_FAILURE, counter("sign-in", "address", client_network())) is None
    ):
        return None
    return wait


def _record_failure(email: str) -> None:
    """Count a failed sign-in for the email and mark the address as having failed."""
    count(EMAIL_LOCK, counter("sign-in", "email", email))
    count(ANY_FAILURE, counter("sign-in", "address", client_network()))


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
def login() -> str | Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Show the sign-in form and sign the user in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        wait = _email_locked_here(email)
        if wait is not None:
            page = render_template("auth/login.html", form=form, error=TOO_MANY_FAILURES)
            return page, 429, {"Retry-After": str(wait)}
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        password = form.password.data or ""
        matches = (
            user.check_password(password)
            if user is not None
            else check_password_hash(_dummy_hash(), password)
        )
        if user is not None and matches and user.active:
            sessions.start_session(user, remember=bool(form.remember.data))
            user.last_login_at = utcnow()
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
        _record_failure(email)
        error = "That email and password do not match an account. Check them and try again."
    return render_template("auth/login.html", form=form, error=error), 200 if not error else 401


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    """Sign out: this browser's session ends on the server, so a copied cookie is worthless."""
    sessions.end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _user_key() -> str:
    return f"user:{current_user.get_id()}"


@bp.route("/account", methods=["GET"])
@login_required
def account() -> str:
    """The signed-in user's account: password, and the browsers signed in as them."""
    return _account_page(ChangePasswordForm())


def _account_page(form: ChangePasswordForm) -> str:
    current = sessions.current_session()
    return render_template(
        "auth/account.html",
        form=form,
        sessions=sessions.live_sessions(current_user),
        current_id=current.id if current is not None else None,
    )


@bp.route("/account/password", methods=["POST"])
@login_required
@limiter.limit(
    "5 per 15 minutes",
    key_func=_user_key,
    scope="password-change",
    deduct_when=_failed,
    error_message=TOO_MANY_FAILURES,
)
def change_password() -> tuple[str, int] | Response:
    """Change the password; every other browser signed in as the user is signed out."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _account_page(form), 400
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    if not user.check_password(form.current_password.data or ""):
        form.current_password.errors = ["That is not your current password. Type it again."]
        return _account_page(form), 401
    user.set_password(form.new_password.data or "")
    sessions.rotate_after_password_change(user)
    db.session.commit()
    flash(
        "Your password is changed. Every other browser signed in as you has been signed out.",
        "success",
    )
    return redirect(url_for("auth.account"))


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@login_required
def sign_out_everywhere() -> Response:
    """End every session of the user, on every device, this one included."""
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    ended = sessions.end_every_session(user)
    flash(
        f"You are signed out everywhere ({ended} session{'s' if ended != 1 else ''} ended). "
        "Sign in again to continue.",
        "info",
    )
    return redirect(url_for("auth.login"))
