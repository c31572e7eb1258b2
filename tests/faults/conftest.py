"""Fault tests: real worker processes killed, Redis restarted, PostgreSQL and storage cut off.

Workers are `flask --app wsgi worker` processes in a session of their own, so a test can kill
one with everything it forked (work horse, reading process) the way a crashed machine would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, text

from app.extensions import db
from app.models import Contact, ImportJob, Tenant
from tests.conftest import ROOT

FLASK = str(Path(sys.executable).parent / "flask")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll until `predicate` returns something true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def fresh_import(job_id: uuid.UUID) -> ImportJob:
    """The import row as committed right now."""
    db.session.rollback()
    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    assert job is not None
    return job


class Workers:
    """Starts real worker processes for a test and stops every one it started."""

    def __init__(self, app: Flask, logs: Path) -> None:
        self.app = app
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, *queues: str, burst: bool = False, **env: str
    ) -> subprocess.Popen[bytes]:
        """Start `flask worker` on the test's database, Redis and storage (plus `env`)."""
        full_env = {
            **os.environ,
            **self.app.config["TEST_ENV"],
            "JOB_STALE_SECONDS": "2",
            **env,
        }
        log = (self.logs / f"{name}.log").open("ab")
        args = [FLASK, "--app", "wsgi", "worker", *queues]
        if burst:
            args.append("--burst")
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append(proc)
        return proc

    def log(self, name: str) -> str:
        """What a worker printed so far."""
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker and everything it forked, as a crash or the OOM killer would."""
        for pid in _descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        """Kill the workers this test started, with their work horses: none outlives the test."""
        for proc in self.started:
            if proc.poll() is None:
                self.kill(proc)


def _descendants(pid: int) -> list[int]:
    """Process ids of the children of `pid`, their children and so on (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.fixture
def workers(app: Flask, tmp_path: Path) -> Iterator[Workers]:
    """Start worker processes; all of them are stopped when the test ends."""
    logs = tmp_path / "worker-logs"
    logs.mkdir()
    pool = Workers(app, logs)
    try:
        yield pool
    finally:
        pool.stop_all()
        for log in sorted(logs.iterdir()):  # shown by pytest when the test failed
            print(f"--- {log.name} ---\n{log.read_text(errors='replace')[-6000:]}")


def emails_csv(rows: int, duplicate_every: int = 50, prefix: str = "p") -> bytes:
    """A CSV of `rows` contacts (email, first and last name), built fast.

    Every `duplicate_every`-th row repeats an earlier email in upper case with another first
    name, so the import both creates and updates, in file order.
    """
    lines = ["Email,First,Last"]
    for i in range(rows):
        if duplicate_every and i and i % duplicate_every == 0:
            lines.append(f"{prefix.upper()}{i // 2}@EXAMPLE.COM,Again {i},Last {i // 2}")
        else:
            lines.append(f"{prefix}{i}@example.com,First {i},Last {i}")
    return ("\n".join(lines) + "\n").encode()


CSV_MAPPING = {"Email": "email", "First": "first_name", "Last": "last_name"}
IMPORT_OPTIONS: dict[str, Any] = {
    "mapping": CSV_MAPPING,
    "tags": ["spring"],
    "segment_name": "Spring leads",
    "validate_email": False,
}
"""Every contact gets a tag and a segment; the addresses are made well-formed, so no check."""


def tenant_state(tenant_id: uuid.UUID) -> dict[str, tuple[Any, ...]]:
    """Every contact of a tenant (fields, tags, segments) by normalized email, in one query."""
    rows = db.session.execute(
        text(
            """
            SELECT c.email_normalized, c.email, c.first_name, c.last_name, c.company, c.phone,
                   c.custom_fields::text, c.subscription_status,
                   COALESCE((SELECT array_agg(t.name ORDER BY t.name) FROM contact_tags ct
                             JOIN tags t ON t.id = ct.tag_id WHERE ct.contact_id = c.id), '{}'),
                   COALESCE((SELECT array_agg(s.name ORDER BY s.name) FROM segment_contacts sc
                             JOIN segments s ON s.id = sc.segment_id
                             WHERE sc.contact_id = c.id), '{}')
            FROM contacts c WHERE c.tenant_id = :tenant
            """
        ),
        {"tenant": tenant_id},
    ).all()
    state = {r[0]: tuple(tuple(v) if isinstance(v, list) else v for v in r[1:]) for r in rows}
    assert len(state) == len(rows), "two contacts share one email"
    return state


def journal(job_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """The import's journal as (email, event, row, values, tags and segments added), sorted,
    with the contacts it created (they name the import instead of a journal row).

    Ids differ between tenants and are left out; a contact journaled twice for one row shows.
    """
    rows = db.session.execute(
        text(
            """
            SELECT c.email_normalized, e.event_type, e.row_number, e.previous_data::text,
                   (e.new_data::jsonb - 'tags_added' - 'tags_removed' - 'segments_added')::text,
                   jsonb_array_length(COALESCE(e.new_data::jsonb->'tags_added', '[]')),
                   jsonb_array_length(COALESCE(e.new_data::jsonb->'segments_added', '[]'))
            FROM import_events e JOIN contacts c ON c.id = e.contact_id
            WHERE e.import_job_id = :job
            UNION ALL
            SELECT email_normalized, 'created', created_from_row, NULL, NULL, 0, 0
            FROM contacts WHERE created_by_import_id = :job
            """
        ),
        {"job": job_id},
    ).all()
    return sorted(tuple(r) for r in rows)


def counts(job: ImportJob) -> dict[str, Any]:
    """The counts a user sees on an import's page."""
    return {
        "status": job.status,
        "total": job.total_rows,
        "processed": job.processed_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "skipped": job.skipped_count,
        "errors": job.error_count,
    }


def existing_contacts(tenant: Tenant, count: int) -> None:
    """Contacts the file will update: the first `count` emails of the file, with old values."""
    db.session.execute(
        insert(Contact),
        [
            {
                "tenant_id": tenant.id,
                "email": f"p{i}@example.com",
                "email_normalized": f"p{i}@example.com",
                "first_name": "Old",
                "company": "Old Co",
            }
            for i in range(count)
        ],
    )
    db.session.commit()


def bulk_contacts(tenant_id: uuid.UUID, count: int, tag: str | None = None) -> None:
    """`count` contacts c1..cN@example.com made inside PostgreSQL (fast), each with `tag`."""
    db.session.execute(
        text(
            """
            INSERT INTO contacts (id, tenant_id, email, email_normalized, first_name, last_name,
                                  custom_fields, subscription_status, emails_opened,
                                  emails_clicked, created_at, updated_at)
            SELECT gen_random_uuid(), :tenant, 'c' || g || '@example.com',
                   'c' || g || '@example.com', 'First ' || g, 'Last ' || g, '{}',
                   'subscribed', 0, 0, now(), now()
            FROM generate_series(1, :count) g
            """
        ),
        {"tenant": tenant_id, "count": count},
    )
    if tag:
        db.session.execute(
            text(
                "INSERT INTO tags (id, tenant_id, name, name_normalized, created_at) "
                "VALUES (gen_random_uuid(), :tenant, :tag, :tag, now())"
            ),
            {"tenant": tenant_id, "tag": tag},
        )
        db.session.execute(
            text(
                "INSERT INTO contact_tags (contact_id, tag_id) SELECT c.id, t.id FROM contacts c "
                "JOIN tags t ON t.tenant_id = c.tenant_id AND t.name = :tag "
                "WHERE c.tenant_id = :tenant"
            ),
            {"tenant": tenant_id, "tag": tag},
        )
    db.session.commit()


class PrivateRedis:
    """A redis-server of the test's own on a free port, without persistence: a restart loses all.

    The shared Redis of the machine is never touched.
    """

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or start again) the server on the same port and wait until it answers."""
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 10, "the private redis-server to answer")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def crash(self) -> None:
        """Kill the server at once (SIGKILL): every queue and job record in it is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(app: Flask, tmp_path: Path) -> Iterator[PrivateRedis]:
    """A private Redis the app (and the workers started with its URL) use for this test."""
    server = PrivateRedis(tmp_path)
    server.start()
    app.config["REDIS_URL"] = server.url
    app.extensions.pop("redis", None)
    try:
        yield server
    finally:
        server.crash()
        app.extensions.pop("redis", None)


class FlakyProxy:
    """A TCP proxy (in front of PostgreSQL or storage) that can cut connections and refuse new ones.

    A thread accepts connections on a free port and pumps bytes to and from the target; during
    an outage its listening socket is closed (new connections are refused by the kernel) and
    every connection it carried is shut down, as when the database server goes away.
    """

    def __init__(self, target: tuple[str, int], delay: float = 0.0) -> None:
        """Carry connections to `target`, waiting `delay` seconds before passing on each chunk.

        The delay keeps a job running long enough to be hit half-way, however fast it gets.
        """
        self.target = target
        self.delay = delay
        self.port = free_port()
        self.refusing = threading.Event()
        self.stopped = threading.Event()
        self.listening = threading.Event()
        self.closed = threading.Event()
        self.connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="pg-proxy", daemon=True)
        self._thread.start()
        if not self.listening.wait(5):
            raise RuntimeError("the proxy did not start listening")

    def url(self, database_url: str) -> str:
        """`database_url` with its host and port replaced by the proxy's."""
        head, _, tail = database_url.rpartition("@")
        database = tail.partition("/")[2]
        return f"{head}@127.0.0.1:{self.port}/{database}"

    def outage(self, seconds: float) -> None:
        """Drop every connection, refuse new ones for `seconds`, then accept again."""
        self.cut()
        time.sleep(seconds)
        self.resume()

    def cut(self) -> None:
        """Stop listening (new connections are refused), then drop every connection."""
        self.listening.clear()
        self.closed.clear()
        self.refusing.set()
        if not self.closed.wait(5):  # no connection slips in while the others are cut
            raise RuntimeError("the proxy did not stop listening")
        with self._lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self.connections.clear()

    def resume(self) -> None:
        """Listen and carry connections again."""
        self.refusing.clear()
        if not self.listening.wait(5):
            raise RuntimeError("the proxy did not listen again")

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self.stopped.set()
        self.refusing.set()
        with self._lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            if self.refusing.is_set():
                time.sleep(0.02)
                continue
            with socket.create_server(("127.0.0.1", self.port)) as listener:
                listener.settimeout(0.05)
                self.listening.set()
                while not self.refusing.is_set():
                    try:
                        client, _ = listener.accept()
                    except TimeoutError:
                        continue
                    self._carry(client)
            self.closed.set()

    def _carry(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        with self._lock:
            self.connections.update((client, upstream))
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for conn in (src, dst):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            with self._lock:
                self.connections.discard(src)
                self.connections.discard(dst)


@pytest.fixture
def pg_proxy(pg_url: str) -> Iterator[tuple[FlakyProxy, str]]:
    """A flaky proxy to the test database, adding 2 ms a message; yields it and its URL."""
    host_port = pg_url.rpartition("@")[2].partition("/")[0]
    host, _, port = host_port.partition(":")
    proxy = FlakyProxy((host, int(port or 5432)), delay=0.002)
    try:
        yield proxy, proxy.url(pg_url)
    finally:
        proxy.close()
