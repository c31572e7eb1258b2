"""Requests are limited per token (Flask-Limiter on the app's Redis): over the limit, 429 and
Retry-After, while other tokens go on. Tokens that are not valid are limited per address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import event

from app import create_app
from app.config import ConfigError, load_settings
from app.extensions import db
from app.models import User
from tests.conftest import ROOT, make_env, make_user
from tests.web.api.conftest import ApiClient, issue_token


def test_a_token_over_its_limit_gets_429_with_retry_after(
    app: Flask, api: ApiClient, tenant: object
) -> None:
    app.config["API_RATE_LIMIT"] = "3 per minute"
    for remaining in (2, 1, 0):
        response = api.get("/api/me")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert "Retry-After" not in response.headers
    limited = api.get("/api/contacts")  # one budget for every endpoint
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 61
    assert "Too many requests" in limited.get_json()["error"]
    assert limited.get_json()["details"] == []

    colleague = ApiClient(app.test_client(), issue_token(make_user(tenant)))  # type: ignore[arg-type]
    assert colleague.get("/api/me").status_code == 200

    keys = Redis.from_url(app.config["REDIS_URL"]).keys("*contacts-io*")
    assert keys, "the counters live in the app's Redis"


def test_the_description_is_not_limited(app: Flask, api: ApiClient) -> None:
    app.config["API_RATE_LIMIT"] = "1 per minute"
    for _ in range(3):
        assert api.client.get("/api/openapi.json").status_code == 200
        assert api.client.get("/api/docs").status_code == 200


def test_the_limit_is_a_setting(tmp_path: object) -> None:
    import pytest

    from app.config import ConfigError, load_settings

    settings = load_settings({"API_RATE_LIMIT": "10/second", "SECRET_KEY": "k"}, tmp_path)  # type: ignore[arg-type]
    assert settings["API_RATE_LIMIT"] == "10/second"
    with pytest.raises(ConfigError, match="API_RATE_LIMIT must be a rate"):
        load_settings({"API_RATE_LIMIT": "lots", "SECRET_KEY": "k"}, tmp_path)  # type: ignore[arg-type]


@pytest.fixture
def token_lookups(app: Flask) -> Iterator[list[str]]:
    """The SQL statements that look an API token up, as the app runs them during the test."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "WHERE api_tokens.token_hash" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def test_made_up_tokens_from_one_address_are_limited_without_looking_them_up(
    app: Flask, token: str, token_lookups: list[str]
) -> None:
    app.config["API_AUTH_FAILURE_LIMIT"] = "3 per minute"
    attacker = app.test_client(use_cookies=False)
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    for n in range(3):
        refused = attacker.get("/api/me", headers={"Authorization": f"Bearer made-up-{n}"})
        assert refused.status_code == 401
    assert len(token_lookups) == 3
    token_lookups.clear()

    for tried in ("made-up-again", token):  # past the limit even a valid token waits
        limited = attacker.get("/api/me", headers={"Authorization": f"Bearer {tried}"})

        assert limited.status_code == 429
        assert 0 < int(limited.headers["Retry-After"]) <= 60
        assert "not valid came from this address" in limited.get_json()["error"]
    assert token_lookups == []  # refused before the database was asked
    other = app.test_client(use_cookies=False)
    other.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    assert other.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert len(token_lookups) == 1


def test_made_up_tokens_are_refused_as_usual_when_redis_is_down(
    pg_url: str, tmp_path: Path, user: User
) -> None:
    env = make_env(tmp_path, pg_url, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    down = create_app({"ENV": env, "TESTING": True, "API_AUTH_FAILURE_LIMIT": "1 per minute"})
    client = down.test_client(use_cookies=False)
    valid = issue_token(user)

    for _ in range(3):
        made_up = client.get("/api/me", headers={"Authorization": "Bearer made-up"})
        assert made_up.status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {valid}"}).status_code == 200
    with down.app_context():
        db.engine.dispose()


def test_the_failure_limit_is_a_setting_the_readme_documents(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| `API_AUTH_FAILURE_LIMIT` | `20 per minute` |" in readme
    assert load_settings({"SECRET_KEY": "k"}, tmp_path)["API_AUTH_FAILURE_LIMIT"] == "20 per minute"
    with pytest.raises(ConfigError, match="API_AUTH_FAILURE_LIMIT must be a rate"):
        load_settings({"API_AUTH_FAILURE_LIMIT": "often", "SECRET_KEY": "k"}, tmp_path)
