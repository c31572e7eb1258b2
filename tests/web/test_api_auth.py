"""Bearer-token authentication of the JSON API."""

from __future__ import annotations

from flask.testing import FlaskClient

from app.extensions import db
from app.models import ApiToken, User
from app.models.types import utcnow


def issue(user: User) -> tuple[ApiToken, str]:
    token, raw = ApiToken.issue(user)
    db.session.add(token)
    db.session.commit()
    return token, raw


def test_api_answers_401_without_a_token(client: FlaskClient) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_accepts_a_valid_bearer_token_and_records_its_use(
    client: FlaskClient, user: User
) -> None:
    token, raw = issue(user)
    assert token.last_used_at is None
    response = client.get("/api/me", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["email"] == user.email
    assert body["tenant"]["name"] == "Acme"
    db.session.refresh(token)
    assert token.last_used_at is not None


def test_tokens_are_stored_hashed(user: User) -> None:
    token, raw = issue(user)
    assert raw not in token.token_hash
    assert len(token.token_hash) == 64


def test_revoked_token_is_refused(client: FlaskClient, user: User) -> None:
    token, raw = issue(user)
    token.revoked_at = utcnow()
    db.session.commit()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_garbage_token_is_refused(client: FlaskClient, user: User) -> None:
    issue(user)
    for header in ("Bearer nope", "Basic abc", "Bearer ", "cio_xyz"):
        assert client.get("/api/me", headers={"Authorization": header}).status_code == 401


def test_session_cookie_alone_does_not_authenticate_the_api(
    client: FlaskClient, signed_in: User
) -> None:
    assert client.get("/api/me").status_code == 401
