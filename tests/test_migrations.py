"""The Alembic migrations build and remove the schema on PostgreSQL and SQLite."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import create_app
from app.extensions import db
from tests.conftest import PASSWORD, RUN_ID, create_database, csrf_token, drop_database, make_env

EXPECTED = {
    "tenants",
    "workspaces",
    "users",
    "api_tokens",
    "contacts",
    "custom_fields",
    "tags",
    "contact_tags",
    "segments",
    "segment_contacts",
    "import_jobs",
    "import_events",
    "export_jobs",
    "user_sessions",
}


def _round_trip(database_url: str, tmp_path: Path, redis_url: str) -> None:
    app = create_app({"ENV": make_env(tmp_path, database_url, redis_url)})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert tables >= EXPECTED
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def test_migrations_upgrade_and_downgrade_on_postgresql(
    tmp_path: Path, redis_url: str, worker_id: str
) -> None:
    name = f"cio_migrations_{RUN_ID}_{worker_id}"
    url = create_database(name)
    try:
        _round_trip(url, tmp_path, redis_url)
    finally:
        drop_database(name)


def test_migrations_upgrade_and_downgrade_on_sqlite(tmp_path: Path, redis_url: str) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, redis_url)


def test_sign_in_works_on_sqlite(tmp_path: Path, redis_url: str) -> None:
    app = create_app({"ENV": make_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", redis_url)})
    with app.app_context():
        upgrade()
        runner = app.test_cli_runner()
        runner.invoke(
            args=[
                "users",
                "create",
                "--email",
                "a@b.test",
                "--password",
                PASSWORD,
                "--tenant",
                "Lite",
            ]
        )
        client = app.test_client()
        token = csrf_token(client, "/login")
        response = client.post(
            "/login", data={"email": "a@b.test", "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302
        assert "Lite" in client.get("/").get_data(as_text=True)
        db.engine.dispose()
