"""Fixtures: a real PostgreSQL database and Redis database per test process, cleaned per test."""

from __future__ import annotations

import contextvars
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from redis import Redis
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.models import Tenant, User, Workspace

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
ADMIN_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
PASSWORD = "correct horse battery"


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def create_database(name: str) -> str:
    """Drop and create a PostgreSQL database on the test server; return its URL."""
    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(ADMIN_DATABASE_URL, name)


def drop_database(name: str) -> None:
    """Drop a database made by create_database."""
    with psycopg.connect(ADMIN_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_env(tmp: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment a test app is configured from (no process environment leaks in)."""
    env = {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(tmp / "instance"),
        "STORAGE_LOCAL_PATH": str(tmp / "storage"),
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
    }
    env.update(extra)
    return env


RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def pg_url(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated PostgreSQL database for this test process (its own name, so runs can overlap)."""
    from flask_migrate import upgrade

    name = f"cio_test_{RUN_ID}_{worker_id}"
    url = create_database(name)
    tmp = tmp_path_factory.mktemp("migrate")
    app = create_app({"ENV": make_env(tmp, url, TEST_REDIS_URL + "/15")})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database number of its own for this test process, claimed with a lock key in db 0.

    Databases 1-14 are shared out; two test runs on one machine never flush each other's data.
    """
    admin = Redis.from_url(f"{TEST_REDIS_URL}/0")
    for number in range(1, 15):
        lock = f"contacts-io:test-db:{number}"
        if admin.set(lock, RUN_ID, nx=True, ex=3600):
            try:
                yield f"{TEST_REDIS_URL}/{number}"
            finally:
                admin.delete(lock)
                admin.close()
            return
    raise RuntimeError("All Redis test databases (1-14) are in use by other test runs.")


class IsolatedClient(FlaskClient):
    """A test client whose requests run outside the test's app context, as in production.

    Without this, every request would reuse the test's app context, and with it `g` (the
    signed-in user, the API tenant) and the database session, hiding bugs.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def app(pg_url: str, redis_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on the test process's PostgreSQL and Redis; tables and Redis emptied afterwards."""
    env = make_env(tmp_path, pg_url, redis_url)
    app = create_app({"ENV": env, "TESTING": True, "TEST_ENV": env})
    app.test_client_class = IsolatedClient
    conn = Redis.from_url(redis_url)
    conn.flushdb()
    with app.app_context():
        yield app
        db.session.remove()
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as c:
            c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()
    conn.flushdb()
    conn.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser-like test client (cookies kept, CSRF on)."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Runs `flask` commands against the test app."""
    return app.test_cli_runner()


def make_tenant(name: str | None = None) -> Tenant:
    """A tenant with a default workspace."""
    tenant = Tenant(name=name or f"Tenant {uuid.uuid4().hex[:8]}")
    db.session.add(tenant)
    db.session.flush()
    db.session.add(Workspace(tenant_id=tenant.id, name="Main"))
    db.session.commit()
    return tenant


def make_user(tenant: Tenant, email: str | None = None, role: str = "member") -> User:
    """A user of the tenant whose password is PASSWORD."""
    user = User(
        tenant_id=tenant.id, email=email or f"user-{uuid.uuid4().hex[:8]}@example.com", role=role
    )
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form on a page, read as a browser would."""
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token in {url}"
    return match.group(1)


class AuthActions:
    """Sign in and out through the real forms."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str, password: str = PASSWORD) -> Any:
        token = csrf_token(self.client, "/login")
        return self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self) -> Any:
        token = csrf_token(self.client, "/")
        return self.client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Sign-in helper bound to the test client."""
    return AuthActions(client)


@pytest.fixture
def tenant(app: Flask) -> Tenant:
    """A tenant for the test."""
    return make_tenant("Acme")


@pytest.fixture
def user(tenant: Tenant) -> User:
    """A member of the test tenant."""
    return make_user(tenant, "marketer@acme.test")


@pytest.fixture
def signed_in(auth: AuthActions, user: User) -> User:
    """The test user, signed in on the client."""
    response = auth.login(user.email)
    assert response.status_code == 302
    return user
