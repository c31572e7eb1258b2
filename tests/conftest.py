"""Fixtures: a real PostgreSQL database and Redis database per test process, cleaned per test;
modules marked `both_databases` also run each test on a fresh migrated SQLite file."""

from __future__ import annotations

import contextvars
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from botocore.config import Config
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from moto.server import ThreadedMotoServer
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


DATABASES = ("postgresql", "sqlite")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests of a module marked `both_databases` once on PostgreSQL and once on SQLite.

    A test of such a module that can only mean something on PostgreSQL carries
    `postgresql_only(reason=...)` and runs once, with the id `[postgresql]`.
    """
    if "database" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("both_databases") is None:
        return
    only = metafunc.definition.get_closest_marker("postgresql_only")
    if only is not None and not only.kwargs.get("reason"):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: postgresql_only needs a reason")
    metafunc.parametrize(
        "database", ["postgresql"] if only else list(DATABASES), indirect=True, scope="function"
    )


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """The database the test's app runs on: PostgreSQL unless the module asks for both."""
    name = getattr(request, "param", "postgresql")
    assert name in DATABASES, name
    return name


@pytest.fixture(scope="session")
def sqlite_template(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per test process; each SQLite test works on a copy."""
    from flask_migrate import upgrade

    tmp = tmp_path_factory.mktemp("sqlite-template")
    path = tmp / "template.sqlite"
    app = create_app({"ENV": make_env(tmp, f"sqlite:///{path}", redis_url)})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def database_url(database: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of the test's database: the process's PostgreSQL one, or a fresh SQLite file."""
    if database == "postgresql":
        return request.getfixturevalue("pg_url")
    path = tmp_path / "db.sqlite"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on the test's database and the process's Redis; both emptied afterwards."""
    env = make_env(tmp_path, database_url, redis_url)
    app = create_app({"ENV": env, "TESTING": True, "TEST_ENV": env})
    app.test_client_class = IsolatedClient
    conn = Redis.from_url(redis_url)
    conn.flushdb()
    with app.app_context():
        yield app
        db.session.remove()
        if db.engine.dialect.name == "postgresql":  # a SQLite file is thrown away with tmp_path
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


def lock_waiters() -> int:
    """Statements of this database waiting for a row lock (a new snapshot each time)."""
    with db.engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
        )


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


# --- an S3-protocol server (moto) for the session and a fresh bucket per test -----------------

S3_REGION = "us-east-1"


@pytest.fixture(scope="session")
def aws_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point every AWS client of the session at fake credentials, never at real ones."""
    missing = tmp_path_factory.mktemp("aws") / "absent"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_PROFILE", raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_SESSION_TOKEN", "testing")
        patch.setenv("AWS_SECURITY_TOKEN", "testing")
        patch.setenv("AWS_DEFAULT_REGION", S3_REGION)
        patch.setenv("AWS_CONFIG_FILE", str(missing))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def s3_server(aws_credentials: None) -> Iterator[str]:
    """Run moto's S3 server on a free local port for the session; yield its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_server: str) -> Any:
    """A boto3 S3 client talking HTTP to the session's server."""
    return boto3.session.Session().client(
        "s3",
        region_name=S3_REGION,
        endpoint_url=s3_server,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )


@pytest.fixture
def s3_bucket(s3_client: Any) -> Iterator[str]:
    """Create an empty bucket for one test; remove it and all it holds afterwards."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    uploads = s3_client.list_multipart_uploads(Bucket=name).get("Uploads", [])
    for upload in uploads:
        s3_client.abort_multipart_upload(
            Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
        )
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3_client.delete_object(Bucket=name, Key=item["Key"])
    s3_client.delete_bucket(Bucket=name)
