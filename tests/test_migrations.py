"""The Alembic migrations build and remove the schema on PostgreSQL and SQLite."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

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


def test_upgrading_a_sqlite_database_with_imports_keeps_them(
    tmp_path: Path, redis_url: str
) -> None:
    """Batch migrations rebuild tables; with foreign keys enforced on SQLite connections, dropping
    a table other rows point at must not fail nor take those rows with it."""
    app = create_app({"ENV": make_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", redis_url)})
    tenant, job, event = (uuid.uuid4().hex for _ in range(3))
    with app.app_context():
        upgrade(revision="0003")
        with db.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO tenants (id, name, created_at) VALUES (:t, 'Old', '2026-01-01')"),
                {"t": tenant},
            )
            conn.execute(
                text(
                    "INSERT INTO import_jobs (id, tenant_id, status, created_at) "
                    "VALUES (:j, :t, 'completed', '2026-01-01')"
                ),
                {"j": job, "t": tenant},
            )
            conn.execute(
                text(
                    "INSERT INTO import_events (id, import_job_id, contact_id, event_type, "
                    "created_at) VALUES (:e, :j, :e, 'created', '2026-01-01')"
                ),
                {"e": event, "j": job},
            )
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM import_jobs")).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM import_events")).scalar() == 1
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.engine.dispose()


def test_upgrading_gives_existing_contacts_the_email_an_import_now_stores(
    tmp_path: Path, redis_url: str
) -> None:
    """Contacts imported before kept the file's spelling; they get the previewed (normalized) one."""
    app = create_app({"ENV": make_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", redis_url)})
    tenant, ann, bob = (uuid.uuid4().hex for _ in range(3))
    with app.app_context():
        upgrade(revision="0005")
        with db.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO tenants (id, name, created_at) VALUES (:t, 'Old', '2026-01-01')"),
                {"t": tenant},
            )
            for contact, email in ((ann, "Ann@Example.COM"), (bob, "bob@example.com")):
                conn.execute(
                    text(
                        "INSERT INTO contacts (id, tenant_id, email, email_normalized, "
                        "custom_fields, subscription_status, emails_opened, emails_clicked, "
                        "created_at, updated_at) VALUES (:c, :t, :e, lower(:e), '{}', "
                        "'subscribed', 0, 0, '2026-01-01', '2026-01-01')"
                    ),
                    {"c": contact, "t": tenant, "e": email},
                )
        upgrade()
        with db.engine.connect() as conn:
            emails = conn.execute(text("SELECT email FROM contacts ORDER BY email")).scalars()
            assert list(emails) == ["ann@example.com", "bob@example.com"]
        db.engine.dispose()
