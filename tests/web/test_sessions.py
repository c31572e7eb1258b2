"""Sessions live on the server: sign-out, a password change, a deactivation and "sign out
everywhere" end them, and the remember-me cookie is a random secret stored hashed."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_login.utils import encode_cookie
from sqlalchemy import select, update

from app.extensions import db
from app.models import User, UserSession
from app.models.types import utcnow
from tests.conftest import PASSWORD, AuthActions, csrf_token

SESSION = "session"
REMEMBER = "cio_remember"


def _sign_in(
    client: FlaskClient, email: str, remember: bool = False, password: str = PASSWORD
) -> Any:
    data = {"email": email, "password": password, "csrf_token": csrf_token(client, "/login")}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data)


def _cookie(client: FlaskClient, name: str) -> str | None:
    cookie = client.get_cookie(name)
    return cookie.value if cookie is not None else None


def _browser_with(app: Flask, **cookies: str) -> FlaskClient:
    """A new browser holding only the given cookies (e.g. copied from another one)."""
    browser = app.test_client()
    for name, value in cookies.items():
        browser.set_cookie(name, value)
    return browser


def _change_password(client: FlaskClient, current: str, new: str, confirm: str) -> Any:
    data = {"current_password": current, "new_password": new, "confirm": confirm}
    return client.post(
        "/account/password", data={**data, "csrf_token": csrf_token(client, "/account")}
    )


def _signed_in(browser: FlaskClient) -> bool:
    return browser.get("/contacts/").status_code == 200


def test_a_session_cookie_copied_before_sign_out_is_refused_after_it(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    assert _sign_in(client, user.email).status_code == 302
    stolen = _cookie(client, SESSION)
    assert stolen and _signed_in(_browser_with(app, session=stolen))
    auth.logout()
    copy = _browser_with(app, session=stolen)
    response = copy.get("/contacts/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_changing_the_password_signs_out_every_other_browser(
    app: Flask, client: FlaskClient, user: User
) -> None:
    other = app.test_client()
    _sign_in(client, user.email)
    _sign_in(other, user.email, remember=True)
    other_remember = _cookie(other, REMEMBER)
    assert other_remember and _signed_in(other)
    before = _cookie(client, SESSION)
    response = _change_password(client, PASSWORD, "a brand new secret", "a brand new secret")
    assert response.status_code == 302
    assert "Your password is changed" in client.get("/account").get_data(as_text=True)
    assert _signed_in(client)  # this browser goes on, with a new session secret
    assert _cookie(client, SESSION) != before
    assert not _signed_in(_browser_with(app, session=before or ""))
    assert not _signed_in(other)
    assert not _signed_in(_browser_with(app, cio_remember=other_remember))
    fresh = app.test_client()
    assert _sign_in(fresh, user.email, password="a brand new secret").status_code == 302


def test_a_wrong_current_password_changes_nothing(client: FlaskClient, user: User) -> None:
    _sign_in(client, user.email)
    response = _change_password(client, "not it", "a brand new secret", "a brand new secret")
    assert response.status_code == 401
    assert "That is not your current password" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)


def test_new_passwords_that_differ_are_refused_with_a_sentence(
    client: FlaskClient, user: User
) -> None:
    _sign_in(client, user.email)
    response = _change_password(client, PASSWORD, "first spelling", "second spelling")
    assert response.status_code == 400
    assert "The two new passwords differ" in response.get_data(as_text=True)


def test_sign_out_everywhere_ends_every_session_of_the_user_only(
    app: Flask, client: FlaskClient, user: User
) -> None:
    laptop, phone, colleague = app.test_client(), app.test_client(), app.test_client()
    _sign_in(laptop, user.email)
    _sign_in(phone, user.email, remember=True)
    phone_remember = _cookie(phone, REMEMBER) or ""
    from tests.conftest import make_user

    other = make_user(user.tenant, "colleague@acme.test")
    _sign_in(colleague, other.email)
    _sign_in(client, user.email)
    page = client.get("/account").get_data(as_text=True)
    assert "Where you are signed in" in page
    assert page.count("<tr>") == 1 + 3  # header + the user's three browsers
    assert "this browser" in page
    response = client.post(
        "/account/sign-out-everywhere", data={"csrf_token": csrf_token(client, "/account")}
    )
    assert response.status_code == 302
    assert "You are signed out everywhere (3 sessions ended)" in client.get("/login").get_data(
        as_text=True
    )
    for browser in (client, laptop, phone, _browser_with(app, cio_remember=phone_remember)):
        assert not _signed_in(browser)
    assert _signed_in(colleague)


def test_deactivating_a_user_ends_their_sessions_at_once(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, user: User
) -> None:
    _sign_in(client, user.email, remember=True)
    remember = _cookie(client, REMEMBER) or ""
    assert _signed_in(client)
    result = runner.invoke(args=["users", "deactivate", "--email", user.email])
    assert result.exit_code == 0, result.output
    assert "1 signed-in session(s) ended" in result.output
    assert not _signed_in(client)
    assert not _signed_in(_browser_with(app, cio_remember=remember))
    runner.invoke(args=["users", "activate", "--email", user.email])
    assert not _signed_in(_browser_with(app, cio_remember=remember))  # old sessions stay ended
    assert _sign_in(app.test_client(), user.email).status_code == 302


def test_a_user_deactivated_in_the_database_is_refused_on_the_next_request(
    client: FlaskClient, user: User
) -> None:
    _sign_in(client, user.email)
    db.session.execute(update(User).where(User.id == user.id).values(active=False))
    db.session.commit()
    assert not _signed_in(client)


# --- remember me ---------------------------------------------------------------------------


def test_the_remember_me_cookie_is_random_per_sign_in_and_stored_hashed(
    app: Flask, user: User
) -> None:
    values = set()
    for _ in range(3):
        browser = app.test_client()
        _sign_in(browser, user.email, remember=True)
        value = _cookie(browser, REMEMBER)
        assert value and len(value) >= 40
        values.add(value)
    assert len(values) == 3
    stored = set(db.session.scalars(select(UserSession.remember_hash)))
    for value in values:
        assert value not in stored
        assert hashlib.sha256(value.encode()).hexdigest() in stored


def test_the_remember_me_cookie_lasts_30_days_at_most(client: FlaskClient, user: User) -> None:
    response = _sign_in(client, user.email, remember=True)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(REMEMBER))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    max_age = int(re.search(r"Max-Age=(\d+)", header).group(1))  # type: ignore[union-attr]
    assert 0 < max_age <= 30 * 24 * 3600
    row = db.session.scalar(select(UserSession))
    assert row is not None
    created = row.created_at.replace(tzinfo=None)
    assert row.expires_at.replace(tzinfo=None) - created <= timedelta(days=30)


def test_a_restarted_browser_is_signed_in_by_its_remember_me_cookie_which_is_then_rotated(
    app: Flask, client: FlaskClient, user: User
) -> None:
    _sign_in(client, user.email, remember=True)
    first = _cookie(client, REMEMBER) or ""
    restarted = _browser_with(app, cio_remember=first)  # the session cookie died with the browser
    assert _signed_in(restarted)
    second = _cookie(restarted, REMEMBER)
    assert second and second != first
    assert _signed_in(restarted)  # goes on with its new session cookie
    assert _signed_in(_browser_with(app, cio_remember=second))


def test_two_tabs_restoring_with_the_same_remember_me_cookie_both_get_in(
    app: Flask, client: FlaskClient, user: User
) -> None:
    """The second request races the rotation the first made: it must not sign the user out."""
    _sign_in(client, user.email, remember=True)
    first = _cookie(client, REMEMBER) or ""
    tab_a, tab_b = _browser_with(app, cio_remember=first), _browser_with(app, cio_remember=first)
    assert _signed_in(tab_a)
    response = tab_b.get("/contacts/")
    assert response.status_code == 200
    assert not any(h.startswith(f"{REMEMBER}=;") for h in response.headers.getlist("Set-Cookie"))


def test_a_replaced_remember_me_secret_used_later_is_a_copy_and_ends_the_session(
    app: Flask, client: FlaskClient, user: User
) -> None:
    _sign_in(client, user.email, remember=True)
    first = _cookie(client, REMEMBER) or ""
    owner = _browser_with(app, cio_remember=first)
    assert _signed_in(owner)  # rotated: the owner now holds a new secret
    db.session.execute(
        update(UserSession).values(remember_rotated_at=utcnow() - timedelta(minutes=5))
    )
    db.session.commit()
    thief = _browser_with(app, cio_remember=first)
    assert not _signed_in(thief)
    assert not _signed_in(owner)  # revoked: the owner signs in again, and the copy is worthless


def test_the_remember_me_cookie_is_worthless_after_sign_out(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    _sign_in(client, user.email, remember=True)
    remember = _cookie(client, REMEMBER) or ""
    response = auth.logout()
    assert any(h.startswith(f"{REMEMBER}=;") for h in response.headers.getlist("Set-Cookie")), (
        "sign-out clears the remember-me cookie"
    )
    assert not _signed_in(_browser_with(app, cio_remember=remember))


def test_an_expired_remember_me_cookie_is_refused_and_cleared(
    app: Flask, client: FlaskClient, user: User
) -> None:
    _sign_in(client, user.email, remember=True)
    remember = _cookie(client, REMEMBER) or ""
    db.session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    browser = _browser_with(app, cio_remember=remember)
    response = browser.get("/contacts/")
    assert response.status_code == 302
    assert _cookie(browser, REMEMBER) is None


def test_a_session_idle_for_longer_than_its_lifetime_ends(client: FlaskClient, user: User) -> None:
    _sign_in(client, user.email)
    assert _signed_in(client)
    db.session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert not _signed_in(client)


def test_using_a_session_moves_its_idle_expiry_on(client: FlaskClient, user: User) -> None:
    _sign_in(client, user.email)
    an_hour_ago = utcnow() - timedelta(hours=1)
    db.session.execute(
        update(UserSession).values(
            last_seen_at=an_hour_ago, expires_at=utcnow() + timedelta(hours=11)
        )
    )
    db.session.commit()
    assert _signed_in(client)
    db.session.expire_all()
    row = db.session.scalar(select(UserSession))
    assert row is not None
    assert row.last_seen_at.replace(tzinfo=None) > an_hour_ago.replace(tzinfo=None)
    assert row.expires_at.replace(tzinfo=None) > (
        utcnow() + timedelta(hours=11, minutes=30)
    ).replace(tzinfo=None)


# --- browsers signed in before sessions lived on the server --------------------------------


def test_a_browser_signed_in_before_the_change_signs_in_once_more_without_an_error(
    app: Flask, user: User
) -> None:
    """A session cookie with only Flask-Login's user id, and its old fixed remember-me cookie."""
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    old_session = serializer.dumps({"_user_id": str(user.id), "_fresh": True})
    with app.test_request_context():
        old_remember = encode_cookie(str(user.id))
    browser = _browser_with(app, session=old_session, remember_token=old_remember)
    response = browser.get("/contacts/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert _cookie(browser, "remember_token") is None  # the fixed credential is gone
    assert _sign_in(browser, user.email).status_code == 302
    assert _signed_in(browser)


def test_the_account_page_names_each_browser_as_people_do(app: Flask, user: User) -> None:
    agent = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
    )
    browser = app.test_client()
    browser.environ_base["HTTP_USER_AGENT"] = agent
    _sign_in(browser, user.email)
    page = browser.get("/account").get_data(as_text=True)
    assert "Edge on Windows" in page
    assert "this browser" in page
