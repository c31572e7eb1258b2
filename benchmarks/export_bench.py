"""Export benchmark: 100k and 1M contacts on PostgreSQL, CSV and XLSX, through a real RQ worker.

    .venv/bin/python benchmarks/export_bench.py                  # both sizes, CSV and XLSX
    .venv/bin/python benchmarks/export_bench.py --sizes 100000 --formats csv

It creates (once) the database `cio_bench_exports` on the local PostgreSQL with one tenant per
size, filled by COPY with deterministic contacts (fixed seed): 10 standard fields and 3 custom
fields (zip as text with leading zeros, score as a number, signup_date as a date) and 0-2 tags
each. For every size and format it commits an export job, runs `flask --app wsgi worker exports
--burst` as a separate process, and reports contacts/s (from the job's started_at to its
completed_at, and end to end from enqueue to the worker's exit) and the worker's peak RSS
(the largest resident set of the worker and its work horse, from getrusage).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE = "cio_bench_exports"
ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_BASE = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
SEED = 20260101

FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Zoë", "José"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Müller", "García"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka"]
TAGS = ["newsletter", "customer", "vip", "webinar", "trial"]
STATUSES = ["subscribed"] * 18 + ["unsubscribed", "bounced"]
CUSTOM_FIELDS = [
    ("zip", "ZIP", "text"),
    ("score", "Score", "number"),
    ("signup_date", "Signup date", "date"),
]
FIELDS = [
    "email",
    "first_name",
    "last_name",
    "company",
    "phone",
    "subscription_status",
    "emails_opened",
    "emails_clicked",
    "last_engaged_at",
    "created_at",
    "custom:zip",
    "custom:score",
    "custom:signup_date",
]
"""10 standard fields and 3 custom fields; `--with-tags` adds the tags column."""


def database_url(name: str = DATABASE) -> str:
    """The URL of a database on the benchmark's PostgreSQL server."""
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def app_env(tmp: Path, redis_url: str) -> dict[str, str]:
    """The environment of the app and of the worker process."""
    return {
        "APP_ENV": "development",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(tmp / "instance"),
        "STORAGE_LOCAL_PATH": str(tmp / "storage"),
        "SECRET_KEY": "bench-" + "x" * 40,
    }


def ensure_database() -> None:
    """Create and migrate the benchmark database when it is missing."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
    env = {**os.environ, "DATABASE_URL": database_url(), "INSTANCE_PATH": tempfile.mkdtemp()}
    env["SECRET_KEY"] = "bench-" + "x" * 40
    subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def contact_rows(tenant_id: uuid.UUID, count: int, seed: int = SEED) -> Iterator[str]:
    """Yield COPY text lines of `count` contacts (deterministic for a seed)."""
    rng = random.Random(seed)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(count):
        email = f"person{n}@example{n % 97}.com"
        custom = {
            "zip": f"{rng.randrange(100000):05d}",
            "score": rng.randrange(1000),
            "signup_date": (date(2024, 1, 1) + timedelta(days=rng.randrange(700))).isoformat(),
        }
        created = base + timedelta(seconds=n * 7)
        yield (
            "\t".join(
                (
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    str(tenant_id),
                    email,
                    email,
                    rng.choice(FIRST),
                    rng.choice(LAST),
                    rng.choice(COMPANIES),
                    f"+4420794{rng.randrange(100000):05d}",
                    json.dumps(custom),
                    rng.choice(STATUSES),
                    str(rng.randrange(50)),
                    str(rng.randrange(10)),
                    (created + timedelta(days=30)).isoformat(),
                    created.isoformat(),
                    created.isoformat(),
                )
            )
            + "\n"
        )


def seed_tenant(size: int) -> uuid.UUID:
    """The tenant `bench-<size>`, created and filled with `size` contacts when missing."""
    name = f"bench-{size}"
    with psycopg.connect(database_url()) as conn:
        row = conn.execute("SELECT id FROM tenants WHERE name = %s", (name,)).fetchone()
        if row:
            tenant_id = row[0]
            have = conn.execute(
                "SELECT count(*) FROM contacts WHERE tenant_id = %s", (tenant_id,)
            ).fetchone()[0]
            if have == size:
                return tenant_id
            raise SystemExit(f"Tenant {name} has {have} contacts, not {size}: drop {DATABASE}.")
        tenant_id = uuid.uuid4()
        print(f"seeding {size:,} contacts into {name} ...", flush=True)
        started = time.monotonic()
        conn.execute(
            "INSERT INTO tenants (id, name, created_at) VALUES (%s, %s, now())", (tenant_id, name)
        )
        conn.execute(
            "INSERT INTO workspaces (id, tenant_id, name, created_at) VALUES (%s, %s, 'Main', now())",
            (uuid.uuid4(), tenant_id),
        )
        for key, label, kind in CUSTOM_FIELDS:
            conn.execute(
                "INSERT INTO custom_fields (id, tenant_id, key, label, field_type, created_at)"
                " VALUES (%s, %s, %s, %s, %s, now())",
                (uuid.uuid4(), tenant_id, key, label, kind),
            )
        tag_ids = [uuid.uuid4() for _ in TAGS]
        for tag_id, tag in zip(tag_ids, TAGS, strict=True):
            conn.execute(
                "INSERT INTO tags (id, tenant_id, name, name_normalized, created_at)"
                " VALUES (%s, %s, %s, %s, now())",
                (tag_id, tenant_id, tag, tag),
            )
        columns = (
            "id, tenant_id, email, email_normalized, first_name, last_name, company, phone,"
            " custom_fields, subscription_status, emails_opened, emails_clicked,"
            " last_engaged_at, created_at, updated_at"
        )
        with conn.cursor().copy(f"COPY contacts ({columns}) FROM STDIN") as copy:
            for line in contact_rows(tenant_id, size, seed=SEED + size):
                copy.write(line)
        conn.execute(
            """
            INSERT INTO contact_tags (contact_id, tag_id)
            SELECT c.id, t.id FROM contacts c
            JOIN LATERAL (
                SELECT id FROM tags WHERE tags.tenant_id = c.tenant_id
                ORDER BY md5(c.id::text || tags.id::text) LIMIT (abs(hashtext(c.email)) %% 3)
            ) t ON true
            WHERE c.tenant_id = %s
            """,
            (tenant_id,),
        )
        conn.commit()
        conn.execute("ANALYZE contacts")
        conn.execute("ANALYZE contact_tags")
        print(f"  seeded in {time.monotonic() - started:.1f}s", flush=True)
        return tenant_id


def claim_redis_database() -> tuple[str, Redis, str]:
    """A Redis database of our own (the lock scheme the tests use), emptied."""
    admin = Redis.from_url(f"{REDIS_BASE}/0")
    for number in range(1, 15):
        lock = f"contacts-io:test-db:{number}"
        if admin.set(lock, "export-bench", nx=True, ex=6 * 3600):
            url = f"{REDIS_BASE}/{number}"
            Redis.from_url(url).flushdb()
            return url, admin, lock
    raise SystemExit("No free Redis database (1-14): wait for the test runs to end.")


def run_one(tenant_id: uuid.UUID, file_format: str, fields: list[str], env: dict[str, str]) -> dict:
    """Queue one export, run a worker process until the queue is empty, read the job's row."""
    os.environ.update(env)
    from app import create_app
    from app.exports.query import ExportFilters
    from app.exports.service import ExportRequest
    from app.extensions import db
    from app.jobs.submit import submit_export
    from app.models import ExportJob

    app = create_app()
    with app.app_context():
        request = ExportRequest("full", ExportFilters(), fields, file_format)
        started = time.monotonic()
        job = submit_export(tenant_id, request)
        job_id = job.id
        db.session.remove()
        db.engine.dispose()
    measure = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True);"
        " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    worker = [
        str(Path(sys.executable).parent / "flask"),
        "--app",
        "wsgi",
        "worker",
        "exports",
        "--burst",
    ]
    result = subprocess.run(
        [sys.executable, "-c", measure, *worker],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    peak_kb = int(result.stdout.strip().splitlines()[-1])
    with app.app_context():
        job = db.session.get(ExportJob, job_id)
        assert job.status == "completed", (job.status, job.failure_message, result.stderr[-2000:])
        seconds = (job.completed_at - job.started_at).total_seconds()
        row = {
            "format": file_format,
            "contacts": job.processed_contacts,
            "job_seconds": round(seconds, 2),
            "contacts_per_s": round(job.processed_contacts / seconds),
            "end_to_end_seconds": round(wall, 2),
            "file_mb": round(job.file_size / 1e6, 1),
            "worker_peak_rss_mb": round(peak_kb / 1024),
        }
        app.extensions["storage"].delete(job.file_url)
        db.session.remove()
        db.engine.dispose()
    return row


def machine() -> str:
    """nproc, memory and CPU model, as the report shows them."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1]
    return f"nproc={os.cpu_count()}; CPU: {cpu}; memory: {' '.join(memory.split()[:2])}; load: {os.getloadavg()}"


def main() -> None:
    """Seed when needed, run every size and format, print one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--with-tags", action="store_true", help="Export the tags column too.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    fields = FIELDS + (["tags"] if args.with_tags else [])
    ensure_database()
    tenants = {size: seed_tenant(size) for size in sizes}
    redis_url, admin, lock = claim_redis_database()
    print(machine(), flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
            env = app_env(Path(tmp), redis_url)
            for file_format in args.formats.split(","):
                for size in sizes:
                    row = run_one(tenants[size], file_format, fields, env)
                    row["tags"] = args.with_tags
                    print(json.dumps(row), flush=True)
    finally:
        admin.delete(lock)


if __name__ == "__main__":
    main()
