"""The health check."""

from __future__ import annotations

from pathlib import Path

from app import create_app
from tests.conftest import make_env


def test_healthz_is_200_when_database_redis_and_storage_answer(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "storage": "ok"},
    }


def test_healthz_is_503_when_redis_does_not_answer(pg_url: str, tmp_path: Path) -> None:
    app = create_app({"ENV": make_env(tmp_path, pg_url, "redis://127.0.0.1:1/0")})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_healthz_is_503_when_the_database_does_not_answer(redis_url: str, tmp_path: Path) -> None:
    env = make_env(tmp_path, "postgresql://postgres@127.0.0.1:1/none", redis_url)
    response = create_app({"ENV": env}).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"].startswith("error")


def test_every_page_names_its_icon_and_the_old_address_leads_to_it(client) -> None:
    """Browsers ask for /favicon.ico when a page names no icon: a 404 in every page's console."""
    page = client.get("/login")
    assert b'<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.data
    moved = client.get("/favicon.ico")
    assert (moved.status_code, moved.headers["Location"]) == (301, "/static/favicon.svg")
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.data.startswith(b"<svg")
