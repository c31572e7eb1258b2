"""Server-side sessions: every signed-in browser is a `UserSession` row, checked on each request.

Flask's session cookie is signed but lives in the browser, so on its own a copy taken before
sign-out would stay valid. It now carries only a random secret (`sid`) whose hash must match a
live row; the remember-me cookie is another random secret, stored hashed on the same row and
replaced each time it is used. Revoking the row (sign-out, a password change, a deactivation,
"sign out everywhere") ends the browser's session on its next request.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import datetime, timedelta

from flask import Flask, Request, current_app, g, request, session
from flask_login import login_user, logout_user
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import contains_eager
from werkzeug.wrappers import Response

from app.extensions import db, login_manager
from app.models import User, UserSession
from app.models.tenancy import REMEMBER_FOR, SESSION_IDLE
from app.models.types import utcnow

log = logging.getLogger(__name__)

SESSION_KEY = "sid"
REMEMBER_COOKIE = "cio_remember"
LEGACY_REMEMBER_COOKIE = "remember_token"
"""Flask-Login's own remember-me cookie, from before sessions lived on the server: removed."""
ROTATION_GRACE = timedelta(seconds=60)
"""How long a just-replaced remember-me secret still works: requests that raced its rotation."""
TOUCH_EVERY = timedelta(minutes=5)
"""How stale `last_seen_at` may get before a request writes it again."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _client() -> tuple[str | None, str | None]:
    agent = (request.user_agent.string or "")[:300] or None
    return (request.remote_addr or None), agent


def start_session(
    user: User, remember: bool, remember_until: datetime | None = None
) -> UserSession:
    """Sign the user in on this browser with a fresh session (and remember-me secret if asked)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    address, agent = _client()
    row = UserSession(
        user_id=user.id,
        token_hash=_digest(secret),
        created_at=now,
        last_seen_at=now,
        expires_at=(remember_until or now + REMEMBER_FOR) if remember else now + SESSION_IDLE,
        ip_address=address,
        user_agent=agent,
    )
    if remember:
        row.remember_hash = _digest(_remember_secret())
    db.session.add(row)
    db.session.flush()
    session[SESSION_KEY] = secret
    login_user(user, remember=False)
    g.user_session = row
    return row


def _remember_secret() -> str:
    """A new remember-me secret, set as the cookie when this response goes out."""
    secret = secrets.token_urlsafe(32)
    g.remember_cookie = secret
    return secret


def end_session() -> None:
    """Sign out this browser: its row is revoked, its cookies cleared."""
    row = current_session()
    if row is not None:
        row.revoked_at = utcnow()
        db.session.commit()
    _forget_browser()


def end_every_session(user: User) -> int:
    """Sign the user out on every browser, this one included; returns how many ended."""
    ended = UserSession.revoke_all(user.id)
    db.session.commit()
    _forget_browser()
    return ended


def rotate_after_password_change(user: User) -> None:
    """End every session of the user, then sign this browser in again with new secrets."""
    row = current_session()
    remembered = row is not None and row.remembered
    until = row.expires_at if row is not None and remembered else None  # never extended
    UserSession.revoke_all(user.id)
    start_session(user, remember=remembered, remember_until=until)


def _forget_browser() -> None:
    session.pop(SESSION_KEY, None)
    logout_user()
    g.pop("user_session", None)
    g.forget_remember_cookie = True


def current_session() -> UserSession | None:
    """This browser's live session row, once the signed-in user has been loaded."""
    return g.get("user_session")


def live_sessions(user: User) -> list[UserSession]:
    """The user's sessions still in force, most recently used first."""
    return list(
        db.session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user.id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > utcnow(),
            )
            .order_by(UserSession.last_seen_at.desc())
        )
    )


def _live(condition: object) -> UserSession | None:
    """The live session row matching a condition, with its (active) user loaded."""
    return db.session.scalar(
        select(UserSession)
        .join(UserSession.user)
        .options(contains_eager(UserSession.user))
        .where(
            condition,  # type: ignore[arg-type]
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > utcnow(),
            User.active.is_(True),
        )
    )


def load_user(user_id: str) -> User | None:
    """Flask-Login's user loader: the user only while this browser's session row is live."""
    secret = session.get(SESSION_KEY)
    if not isinstance(secret, str):
        return None  # a cookie from before server-side sessions: sign in again, once
    try:
        owner = uuid.UUID(user_id)
    except ValueError:
        return None
    row = _live(UserSession.token_hash == _digest(secret))
    if row is None or row.user_id != owner:
        session.pop(SESSION_KEY, None)
        return None
    g.user_session = row
    return row.user


def load_user_from_remember_cookie(incoming: Request) -> User | None:
    """Flask-Login's request loader: a browser restarted with a live remember-me cookie.

    The cookie's secret is used once: the session gets a new one and a new remember secret.
    A request that raced that rotation (two restored tabs) still gets through with the secret
    just replaced, changing nothing; the same secret used later means a copy, and the session
    is revoked.
    """
    secret = incoming.cookies.get(REMEMBER_COOKIE)
    if not secret:
        return None
    digest = _digest(secret)
    row = _live(UserSession.remember_hash == digest)
    if row is None:
        return _replaced_secret(digest)
    new_secret = secrets.token_urlsafe(32)
    row.token_hash = _digest(new_secret)
    row.previous_remember_hash = digest
    row.remember_rotated_at = utcnow()
    row.remember_hash = _digest(_remember_secret())
    row.last_seen_at = utcnow()
    db.session.commit()
    session[SESSION_KEY] = new_secret
    login_user(row.user, remember=False, fresh=False)
    g.user_session = row
    return row.user


def _replaced_secret(digest: str) -> User | None:
    """A remember-me secret a rotation replaced: fine within the grace, a copy after it."""
    racing = _live(
        (UserSession.previous_remember_hash == digest)
        & (UserSession.remember_rotated_at > utcnow() - ROTATION_GRACE)
    )
    if racing is not None:
        g.user_session = racing  # this request only: the rotating one set the cookies
        return racing.user
    stolen = db.session.scalar(
        select(UserSession).where(
            UserSession.previous_remember_hash == digest, UserSession.revoked_at.is_(None)
        )
    )
    if stolen is not None:
        log.warning("A replaced remember-me secret was used again: session %s revoked", stolen.id)
        stolen.revoked_at = utcnow()
        db.session.commit()
    g.forget_remember_cookie = True
    return None


def _expiry_after_use(row: UserSession, now: datetime) -> datetime:
    """Remembered sessions end 30 days after sign-in; others after 12 idle hours."""
    if row.remembered:
        return row.expires_at
    return now + SESSION_IDLE


def _cookies_and_touch(response: Response) -> Response:
    """Write or clear the remember-me cookie and note that this session was used."""
    config = current_app.config
    secret = g.pop("remember_cookie", None)
    if secret:
        response.set_cookie(
            REMEMBER_COOKIE,
            secret,
            max_age=int(REMEMBER_FOR.total_seconds()),
            secure=config.get("REMEMBER_COOKIE_SECURE", False),
            httponly=True,
            samesite="Lax",
        )
    elif g.pop("forget_remember_cookie", False) and REMEMBER_COOKIE in request.cookies:
        response.delete_cookie(REMEMBER_COOKIE, httponly=True, samesite="Lax")
    if LEGACY_REMEMBER_COOKIE in request.cookies:
        response.delete_cookie(LEGACY_REMEMBER_COOKIE)
    row = g.get("user_session")
    now = utcnow()
    if row is not None and not secret and _stale(row.last_seen_at, now):
        _touch(row.id, _expiry_after_use(row, now), now)
    return response


def _stale(seen: datetime, now: datetime) -> bool:
    if seen.tzinfo is None:  # SQLite hands timestamps back without their zone (always UTC)
        seen = seen.replace(tzinfo=now.tzinfo)
    return now - seen > TOUCH_EVERY


def _touch(row_id: uuid.UUID, expires_at: datetime, now: datetime) -> None:
    """Record the use after the view is done, in a transaction of its own (best effort)."""
    try:
        db.session.rollback()  # whatever the view left uncommitted is not ours to commit
        db.session.execute(
            update(UserSession)
            .where(UserSession.id == row_id, UserSession.revoked_at.is_(None))
            .values(last_seen_at=now, expires_at=expires_at)
        )
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("Could not record the use of session %s", row_id, exc_info=True)


def register(app: Flask) -> None:
    """Install the loaders and the cookie hook."""
    login_manager.user_loader(load_user)
    login_manager.request_loader(load_user_from_remember_cookie)
    app.after_request(_cookies_and_touch)
