"""Requests are limited per token (Flask-Limiter on the app's Redis): over the limit, 429 and
Retry-After, while other tokens go on."""

from __future__ import annotations

from flask import Flask
from redis import Redis

from tests.conftest import make_user
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
