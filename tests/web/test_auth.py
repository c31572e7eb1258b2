"""Sign-in, sign-out, CSRF and the session cookie."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import create_app
from app.extensions import db
from app.models import User
from tests.conftest import PASSWORD, AuthActions, csrf_token, make_env, make_tenant, make_user


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


# --- failed sign-ins are rate-limited -------------------------------------------------------

TOO_MANY = "Too many failed sign-in attempts"


def _fail(client: FlaskClient, email: str, address: str = "127.0.0.1") -> Any:
    """A sign-in with a wrong password from `address` (the test client's own by default)."""
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": "wrong password", "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def test_sixth_failed_sign_in_for_one_email_is_refused_with_429(
    client: FlaskClient, auth: AuthActions, user: User
) -> None:
    for _ in range(5):
        assert _fail(client, user.email).status_code == 401
    refused = _fail(client, user.email)
    assert refused.status_code == 429
    assert TOO_MANY in refused.get_data(as_text=True)
    assert "Wait 15 minutes" in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    # even the right password is refused until the window has passed
    assert auth.login(user.email).status_code == 429
    assert client.get("/").status_code == 302  # still signed out


def test_limit_counts_failures_only_and_per_email(
    client: FlaskClient, auth: AuthActions, user: User
) -> None:
    for _ in range(4):
        assert _fail(client, user.email).status_code == 401
    for _ in range(3):  # successful sign-ins do not count
        assert auth.login(user.email).status_code == 302
        auth.logout()
    assert _fail(client, user.email).status_code == 401  # the 5th failure
    # another account from the same address is not locked out by this one
    other = make_user(user.tenant, "other@acme.test")
    assert auth.login(other.email).status_code == 302


def test_one_email_tried_from_many_addresses_is_limited(client: FlaskClient, user: User) -> None:
    for n in range(20):
        assert _fail(client, user.email, f"10.0.1.{n}").status_code == 401
    # the email is locked: every address that failed is refused, even with the right password
    assert _fail(client, user.email, "10.0.1.3").status_code == 429
    assert _login_from(client, user.email, PASSWORD, "10.0.1.4").status_code == 429
    # a new address gets one guess per window, then it is refused too
    assert _fail(client, user.email, "10.0.2.1").status_code == 401
    refused = _fail(client, user.email, "10.0.2.1")
    assert refused.status_code == 429
    assert TOO_MANY in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60


def test_a_locked_email_does_not_lock_out_its_owner_from_an_address_with_no_failures(
    client: FlaskClient, user: User
) -> None:
    """Anyone can type an email: guessers must not be able to keep its owner from signing in."""
    for n in range(25):
        _fail(client, user.email, f"10.0.5.{n}")
    assert _fail(client, user.email, "10.0.5.1").status_code == 429  # the lock is on
    response = _login_from(client, user.email, PASSWORD, "192.0.2.50")
    assert response.status_code == 302
    assert client.get("/", environ_base={"REMOTE_ADDR": "192.0.2.50"}).status_code == 200


def _login_from(client: FlaskClient, email: str, password: str, address: str) -> Any:
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def test_many_emails_tried_from_one_address_are_limited(client: FlaskClient, user: User) -> None:
    for n in range(50):
        assert _fail(client, f"guess{n}@acme.test", "10.0.3.1").status_code == 401
    assert _fail(client, "guess-last@acme.test", "10.0.3.1").status_code == 429
    assert _fail(client, "guess-last@acme.test", "10.0.3.2").status_code == 401


def test_behind_a_trusted_proxy_each_client_address_is_limited_on_its_own(
    app: Flask, user: User
) -> None:
    """Behind a load balancer every request comes from its address: the limit per address must
    count the client's, or one guesser locks every client out of signing in."""
    proxied = create_app({"ENV": app.config["TEST_ENV"], "TESTING": True, "TRUSTED_PROXIES": 1})
    client = proxied.test_client()

    def fail(email: str, forwarded: str) -> int:
        token = csrf_token(client, "/login")
        return client.post(
            "/login",
            data={"email": email, "password": "wrong password", "csrf_token": token},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},  # the load balancer's own
            headers={"X-Forwarded-For": forwarded},
        ).status_code

    for n in range(50):
        assert fail(f"guess{n}@acme.test", "203.0.113.7") == 401
    assert fail("guess-last@acme.test", "203.0.113.7") == 429
    assert fail("guess-last@acme.test", "198.51.100.4") == 401


def test_forwarded_addresses_are_ignored_without_trusted_proxies(
    client: FlaskClient, user: User
) -> None:
    """A client cannot dodge the limit per address by writing X-Forwarded-For itself."""
    for n in range(50):
        token = csrf_token(client, "/login")
        response = client.post(
            "/login",
            data={"email": f"guess{n}@acme.test", "password": "wrong", "csrf_token": token},
            environ_base={"REMOTE_ADDR": "10.0.4.1"},
            headers={"X-Forwarded-For": f"192.0.2.{n}"},
        )
        assert response.status_code == 401
    assert _fail(client, "guess-last@acme.test", "10.0.4.1").status_code == 429


# --- no user enumeration ---------------------------------------------------------------------


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int, int]]:
    """Every scrypt hash computed, as (n, r, p, length): the cost of each password check."""
    calls: list[tuple[int, int, int, int]] = []
    real = hashlib.scrypt

    def counting(password: bytes, **kwargs: Any) -> bytes:
        calls.append((kwargs["n"], kwargs["r"], kwargs["p"], kwargs.get("dklen", 64)))
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


def test_unknown_email_costs_the_same_hash_as_a_wrong_password(
    auth: AuthActions, user: User, scrypt_calls: list[tuple[int, int, int, int]]
) -> None:
    n, r, p = (int(x) for x in user.password_hash.split("$")[0].split(":")[1:])
    real_cost = (n, r, p, 64)
    outcomes = {}
    for case, email in (
        ("wrong password", user.email),
        ("unknown email", "nobody@acme.test"),
        ("deactivated", "gone@acme.test"),
    ):
        if case == "deactivated":
            gone = make_user(user.tenant, email)
            gone.active = False
            db.session.commit()
        scrypt_calls.clear()
        response = auth.login(email, "not the password" if case != "deactivated" else PASSWORD)
        outcomes[case] = (response.status_code, _error_text(response), list(scrypt_calls))
    for status, message, calls in outcomes.values():
        assert status == 401
        assert (
            message == "That email and password do not match an account. Check them and try again."
        )
        assert calls == [real_cost]  # exactly one hash check, of the real cost


def _error_text(response: Any) -> str:
    match = re.search(r'id="login-error">([^<]*)<', response.get_data(as_text=True))
    assert match
    return match.group(1)


# --- passwords are never logged --------------------------------------------------------------


def test_passwords_appear_in_no_log_record_nor_command_output(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    runner: FlaskCliRunner,
    caplog: pytest.LogCaptureFixture,
) -> None:
    new_password = "cli-Password-7f3a9"
    wrong_password = "wrong-Password-c41d2"
    caplog.set_level(logging.DEBUG)
    app.logger.setLevel(logging.DEBUG)
    result = runner.invoke(
        args=["users", "create", "--email", "ops@acme.test", "--tenant", "Acme"],
        input=f"{new_password}\n{new_password}\n",
    )
    assert result.exit_code == 0, result.output
    on_line = ["users", "create", "--email", "ops2@acme.test", "--tenant", "Acme"]
    given_on_line = runner.invoke(args=[*on_line, "--password", new_password])
    assert given_on_line.exit_code == 0, given_on_line.output
    failed = auth.login("ops@acme.test", wrong_password)
    assert failed.status_code == 401
    assert auth.login("ops@acme.test", new_password).status_code == 302

    assert caplog.records, "nothing was logged: the capture is not working"
    logged = (
        "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records)
        + caplog.text
    )
    for secret in (new_password, wrong_password):
        assert secret not in logged
        assert secret not in result.output + given_on_line.output
        assert secret not in failed.get_data(as_text=True)


def test_sign_in_still_works_when_the_rate_limit_store_is_down(
    user: User, tmp_path: Path, pg_url: str
) -> None:
    closed_port = "redis://127.0.0.1:9/0"  # nothing listens there
    app = create_app({"ENV": make_env(tmp_path, pg_url, closed_port), "TESTING": True})
    client = app.test_client()
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


def test_five_failures_from_one_address_do_not_lock_the_owner_out_elsewhere(
    client: FlaskClient, user: User
) -> None:
    for _ in range(6):
        _fail(client, user.email, "198.51.100.66")
    assert _login_from(client, user.email, PASSWORD, "198.51.100.66").status_code == 429
    assert _login_from(client, user.email, PASSWORD, "192.0.2.10").status_code == 302


def test_guesses_from_one_ipv6_network_count_as_one_address(
    client: FlaskClient, user: User
) -> None:
    """A /64 holds billions of addresses: each must not get a fresh allowance."""
    for n in range(5):
        assert _fail(client, user.email, f"2001:db8:1:2::{n + 1:x}").status_code == 401
    assert _fail(client, user.email, "2001:db8:1:2:ffff::9").status_code == 429
    assert _fail(client, user.email, "2001:db8:1:3::1").status_code == 401  # another network
