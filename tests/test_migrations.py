"""The Alembic migrations build and remove the schema on PostgreSQL and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import MetaData, inspect, select, text

from app import create_app
from app.extensions import db
from app.imports.dry_run_result import DryRunResult, dry_run_fields
from app.imports.rollback_tally import RollbackTally, rollback_fields
from app.models import ImportJob
from tests.conftest import PASSWORD, RUN_ID, create_database, csrf_token, drop_database, make_env
from tests.imports.test_dry_run_result import STORED_COUNTS
from tests.imports.test_rollback_tally_stored import (
    CONTACT_ID,
    STORED_COMPLETED,
    STORED_FAILED,
    STORED_RUNNING,
)

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
        _assert_partial_indexes(db.metadata)
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()


def _assert_partial_indexes(metadata: MetaData) -> None:
    """Alembic does not compare an index's WHERE: the database's must be the model's."""
    if db.engine.dialect.name == "postgresql":
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE indexdef LIKE '% WHERE %'"
    else:
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'"
    with db.engine.connect() as conn:
        built = {
            name: sql.split(" WHERE ", 1)[1].strip("()") for name, sql in conn.execute(text(query))
        }
    wanted = {
        index.name: str(index.dialect_options[db.engine.dialect.name]["where"])
        for table in metadata.tables.values()
        for index in table.indexes
        if index.dialect_options[db.engine.dialect.name]["where"] is not None
    }
    assert built == wanted
    assert wanted == {"ix_contacts_created_by_import": "created_by_import_id IS NOT NULL"}


def _on_new_postgresql_database(
    name: str, check: Callable[[str, Path, str], None], tmp_path: Path, redis_url: str
) -> None:
    """Run `check` on a new, empty PostgreSQL database, dropped afterwards."""
    url = create_database(name)
    try:
        check(url, tmp_path, redis_url)
    finally:
        drop_database(name)


def test_migrations_upgrade_and_downgrade_on_postgresql(
    tmp_path: Path, redis_url: str, worker_id: str
) -> None:
    name = f"cio_migrations_{RUN_ID}_{worker_id}"
    _on_new_postgresql_database(name, _round_trip, tmp_path, redis_url)


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


def stored_id(value: uuid.UUID) -> str:
    """A UUID written as raw SQL the way `sa.Uuid` stores it (on SQLite: 32 hex digits)."""
    return value.hex if db.engine.dialect.name == "sqlite" else str(value)


def add_tenant(conn: Any, tenant_id: str) -> None:
    """The tenant an old revision's rows belong to, by its stored id."""
    conn.execute(
        text("INSERT INTO tenants (id, name, created_at) VALUES (:t, 'Old', '2026-01-01')"),
        {"t": tenant_id},
    )


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
            add_tenant(conn, tenant)
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
            add_tenant(conn, tenant)
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


def _upgrade_with_a_created_event(database_url: str, tmp_path: Path, redis_url: str) -> None:
    app = create_app({"ENV": make_env(tmp_path, database_url, redis_url)})
    tenant, job, kept, gone, other = (uuid.uuid4() for _ in range(5))
    with app.app_context():
        upgrade(revision="0010")
        with db.engine.begin() as conn:
            add_tenant(conn, stored_id(tenant))
            conn.execute(
                text(
                    "INSERT INTO import_jobs (id, tenant_id, status, created_at) "
                    "VALUES (:j, :t, 'completed', '2026-01-01')"
                ),
                {"j": stored_id(job), "t": stored_id(tenant)},
            )
            conn.execute(
                text(
                    "INSERT INTO contacts (id, tenant_id, email, email_normalized, custom_fields, "
                    "subscription_status, emails_opened, emails_clicked, created_at, updated_at) "
                    "VALUES (:c, :t, 'a@b.test', 'a@b.test', '{}', 'subscribed', 0, 0, "
                    "'2026-01-01', '2026-01-01')"
                ),
                {"c": stored_id(kept), "t": stored_id(tenant)},
            )
            for event, contact, kind, row in (
                (uuid.uuid4(), kept, "created", 7),
                (uuid.uuid4(), gone, "created", 8),  # rolled back by hand: history
                (uuid.uuid4(), other, "updated", 9),
            ):
                conn.execute(
                    text(
                        "INSERT INTO import_events (id, import_job_id, contact_id, event_type, "
                        "created_at, row_number) VALUES (:e, :j, :c, :k, '2026-01-01', :r)"
                    ),
                    {
                        "e": stored_id(event),
                        "j": stored_id(job),
                        "c": stored_id(contact),
                        "k": kind,
                        "r": row,
                    },
                )
        upgrade()
        with db.engine.connect() as conn:
            moved = conn.execute(
                text("SELECT created_by_import_id, created_from_row FROM contacts")
            ).one()
            assert (uuid.UUID(str(moved[0])), moved[1]) == (job, 7)
            left = conn.execute(
                text("SELECT event_type, row_number FROM import_events ORDER BY row_number")
            ).all()
            assert [tuple(r) for r in left] == [("created", 8), ("updated", 9)]
        downgrade(revision="0010")
        with db.engine.connect() as conn:
            back = conn.execute(
                text(
                    "SELECT row_number FROM import_events WHERE event_type = 'created' "
                    "ORDER BY row_number"
                )
            ).scalars()
            assert list(back) == [7, 8]  # the journal has its created row back
        db.engine.dispose()


def test_upgrading_moves_created_events_onto_their_contacts_on_sqlite(
    tmp_path: Path, redis_url: str
) -> None:
    _upgrade_with_a_created_event(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, redis_url)


def test_upgrading_moves_created_events_onto_their_contacts_on_postgresql(
    tmp_path: Path, redis_url: str, worker_id: str
) -> None:
    name = f"cio_migrate_created_{RUN_ID}_{worker_id}"
    _on_new_postgresql_database(name, _upgrade_with_a_created_event, tmp_path, redis_url)


def _upgrade_with_notification_links(database_url: str, tmp_path: Path, redis_url: str) -> None:
    app = create_app({"ENV": make_env(tmp_path, database_url, redis_url)})
    tenant, job, export, other = (uuid.uuid4() for _ in range(4))
    links = {
        "imported": f"/imports/{job}",
        "exported": f"/history#export-{export}",
        "exported early": f"/exports/{other}",
        "elsewhere": "/",
    }
    with app.app_context():
        upgrade(revision="0019")
        with db.engine.begin() as conn:
            add_tenant(conn, stored_id(tenant))
            for message, link in links.items():
                conn.execute(
                    text(
                        "INSERT INTO notifications (id, tenant_id, kind, message, link, "
                        "created_at) VALUES (:n, :t, 'import', :m, :l, '2026-01-01')"
                    ),
                    {"n": stored_id(uuid.uuid4()), "t": stored_id(tenant), "m": message, "l": link},
                )
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT message, object_kind, object_id FROM notifications"))
            about = {m: (k, uuid.UUID(str(i)) if i else None) for m, k, i in rows}
        assert about == {
            "imported": ("import", job),
            "exported": ("export", export),
            "exported early": ("export", other),
            "elsewhere": (None, None),
        }
        downgrade(revision="0019")
        with db.engine.connect() as conn:
            back = dict(conn.execute(text("SELECT message, link FROM notifications")).all())
        assert back == {
            "imported": f"/imports/{job}",
            "exported": f"/history#export-{export}",
            "exported early": f"/history#export-{other}",  # the link the app writes now
            "elsewhere": None,
        }
        db.engine.dispose()


def test_upgrading_gives_notifications_the_import_or_export_their_link_named_on_sqlite(
    tmp_path: Path, redis_url: str
) -> None:
    _upgrade_with_notification_links(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, redis_url)


def test_upgrading_gives_notifications_the_import_or_export_their_link_named_on_postgresql(
    tmp_path: Path, redis_url: str, worker_id: str
) -> None:
    name = f"cio_migrate_notes_{RUN_ID}_{worker_id}"
    _on_new_postgresql_database(name, _upgrade_with_notification_links, tmp_path, redis_url)


def _renames_stored_keys(
    before: str, column: str, values: dict[str, Any], old: dict[str, Any], new: dict[str, Any]
) -> Callable[[str, Path, str], None]:
    """A check of the migration after `before`: import jobs whose `column` holds each of `old`
    (and one holding nothing) hold the same-named one of `new` once upgraded, and `old` again
    once downgraded. `values` fills the job's other columns."""

    def check(database_url: str, tmp_path: Path, redis_url: str) -> None:
        app = create_app({"ENV": make_env(tmp_path, database_url, redis_url)})
        jobs = ImportJob.__table__
        tenant = uuid.uuid4()
        ids = {name: uuid.uuid4() for name in [*old, "none"]}
        with app.app_context():
            upgrade(revision=before)
            with db.engine.begin() as conn:
                add_tenant(conn, stored_id(tenant))
                for name, job_id in ids.items():
                    row = {"id": job_id, "tenant_id": tenant, **values, column: old.get(name)}
                    conn.execute(jobs.insert().values(**row))

            def stored() -> dict[str, Any]:
                with db.engine.connect() as conn:
                    rows = conn.execute(select(jobs.c.id, jobs.c[column])).all()
                names = {job_id: name for name, job_id in ids.items()}
                return {names[job_id]: value for job_id, value in rows}

            upgrade()
            assert stored() == {**new, "none": None}
            downgrade(revision=before)
            assert stored() == {**old, "none": None}
            db.engine.dispose()

    return check


def _on_the_dialect(
    dialect: str, check: Callable[[str, Path, str], None], tmp_path: Path, redis_url: str, name: str
) -> None:
    """Run `check` on a new SQLite file, or on a new PostgreSQL database called `name`."""
    if dialect == "sqlite":
        check(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path, redis_url)
    else:
        _on_new_postgresql_database(name, check, tmp_path, redis_url)


def _camel_case_dry_runs() -> dict[str, dict[str, Any]]:
    """A dry run of each stage as versions before 0021 stored it: as the API still shows it."""
    counted = DryRunResult.from_stored(STORED_COUNTS)
    assert counted is not None
    return {
        "counted": dry_run_fields(counted),
        "running": {"processedRows": 2000, "run": "a1b2"},
        "failed": {"error": "The file is empty."},
        "follow-up": {"headers": ["Email"], "problems": {"Email\x1fmissing": 1}},
    }


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_upgrading_renames_the_keys_of_stored_dry_runs_and_downgrading_names_them_back(
    dialect: str, tmp_path: Path, redis_url: str, worker_id: str
) -> None:
    camel = _camel_case_dry_runs()
    snake = {
        "counted": STORED_COUNTS,  # field names in fieldChanges, problems: data, as they were
        "running": {"processed_rows": 2000, "run": "a1b2"},
        "failed": camel["failed"],
        "follow-up": camel["follow-up"],
    }
    values = {"status": "draft", "dry_run_status": "completed"}
    check = _renames_stored_keys("0020", "dry_run", values, camel, snake)
    _on_the_dialect(dialect, check, tmp_path, redis_url, f"cio_dry_runs_{RUN_ID}_{worker_id}")


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_upgrading_renames_the_keys_of_stored_rollbacks_and_downgrading_names_them_back(
    dialect: str, tmp_path: Path, redis_url: str, worker_id: str
) -> None:
    snake = {
        "running": STORED_RUNNING,
        "completed": STORED_COMPLETED,
        "failed": STORED_FAILED,
        "failed-at-once": {"error": "The worker stopped."},
        # stored by a rollback on one connection, before the slices: its position at the top
        "one-connection": {"restored": 5, "journal_before": [40, "e1"], "created_after": None},
    }
    camel = {
        name: rollback_fields(RollbackTally.from_stored(shape)) for name, shape in snake.items()
    }
    camel["failed-at-once"] = {"error": "The worker stopped."}
    camel["one-connection"] = {"restored": 5, "journalBefore": [40, "e1"], "createdAfter": None}
    assert camel["running"]["positions"]["0/2"] == {
        "journalBefore": [40, "e1"],
        "createdAfter": None,
    }
    assert camel["completed"]["keptContacts"][0]["contactId"] == CONTACT_ID
    values = {"status": "rolled_back", "rollback_status": "completed"}
    check = _renames_stored_keys("0021", "rollback_result", values, camel, snake)
    _on_the_dialect(dialect, check, tmp_path, redis_url, f"cio_rollbacks_{RUN_ID}_{worker_id}")
