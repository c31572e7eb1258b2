"""Sign-in, sign-out, CSRF and the session cookie."""

from __future__ import annotations

from flask.testing import FlaskClient

from app.models import User
from tests.conftest import PASSWORD, AuthActions, make_tenant, make_user


def test_dashboard_redirects_anonymous_visitors_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_sign_in_with_right_password_shows_dashboard(
    auth: AuthActions, user: User, client: FlaskClient
) -> None:
    response = auth.login(user.email)
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Acme" in page
    assert user.email in page


def test_sign_in_is_case_insensitive_on_email(auth: AuthActions, user: User) -> None:
    assert auth.login(user.email.upper()).status_code == 302


def test_wrong_password_and_unknown_email_get_the_same_message(
    auth: AuthActions, user: User
) -> None:
    wrong = auth.login(user.email, "not the password")
    unknown = auth.login("nobody@acme.test", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    message = "That email and password do not match an account"
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)


def test_password_is_stored_as_a_slow_hash(user: User) -> None:
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith("scrypt:")


def test_deactivated_user_cannot_sign_in(auth: AuthActions, user: User) -> None:
    from app.extensions import db

    user.active = False
    db.session.commit()
    assert auth.login(user.email).status_code == 401


def test_sign_in_form_without_csrf_token_is_refused(client: FlaskClient, user: User) -> None:
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)


def test_sign_out_ends_the_session(auth: AuthActions, signed_in: User, client: FlaskClient) -> None:
    assert auth.logout().status_code == 302
    assert client.get("/").status_code == 302


def test_sign_out_by_get_is_not_allowed(signed_in: User, client: FlaskClient) -> None:
    assert client.get("/logout").status_code == 405


def test_next_parameter_only_redirects_within_the_site(app, user: User) -> None:
    from tests.conftest import csrf_token

    for target, expected in [
        ("/contacts/", "/contacts/"),
        ("https://evil.test/", "/"),
        ("//evil.test", "/"),
    ]:
        client = app.test_client()
        token = csrf_token(client, "/login")
        response = client.post(
            f"/login?next={target}",
            data={"email": user.email, "password": PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 302
        assert response.headers["Location"] == expected


def test_session_cookie_is_httponly_and_samesite_lax(auth: AuthActions, user: User) -> None:
    response = auth.login(user.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_pages_send_security_headers(client: FlaskClient) -> None:
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_users_of_two_tenants_see_only_their_own_tenant(
    client: FlaskClient, auth: AuthActions
) -> None:
    other = make_tenant("Globex")
    make_user(other, "hank@globex.test")
    auth.login("hank@globex.test")
    page = client.get("/").get_data(as_text=True)
    assert "Globex" in page
    assert "Acme" not in page
