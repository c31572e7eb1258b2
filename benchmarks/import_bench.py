"""Import benchmark: `python -m benchmarks.import_bench --rows 1000000` (PostgreSQL, real worker).

Builds a fresh PostgreSQL database, seeds a tenant with half of the file's emails, writes a
CSV with a fixed seed (10 columns, 2% in-file duplicates, 1% invalid emails), then measures from
enqueue to `completed` with a real RQ worker process, the worker's peak memory, the rollback of
that import, a 100k-row XLSX import, and the naive per-row design on a slice for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from benchmarks.data import MAPPING, email_for, write_csv, write_xlsx

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
COLD_WORKER = bool(os.environ.get("COLD_WORKER"))


def machine() -> str:
    """nproc, memory and CPU model."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.0f} GiB RAM, Python {platform.python_version()}"


def fresh_database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def environment(database_url: str, folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "INSTANCE_PATH": str(folder / "instance"),
        "STORAGE_LOCAL_PATH": str(folder / "storage"),
        "SECRET_KEY": "benchmark-" + "x" * 40,
    }


def seed_existing(database_url: str, tenant_id: uuid.UUID, rows: int) -> int:
    """COPY contacts for every second email of the file into the tenant (they will match)."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    count = 0
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY contacts (id, tenant_id, email, email_normalized, first_name, last_name, company,"
            " custom_fields, subscription_status, emails_opened, emails_clicked, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for n in range(0, rows, 2):
                email = email_for(n)
                status = "unsubscribed" if n % 50 == 0 else "subscribed"
                copy.write_row(
                    (
                        uuid.uuid4(),
                        tenant_id,
                        email,
                        email,
                        "Old",
                        "Name",
                        "Old Co",
                        "{}",
                        status,
                        0,
                        0,
                        "2025-01-01",
                        "2025-01-01",
                    )
                )
                count += 1
        conn.commit()
    return count


def run_worker(env: dict[str, str], enqueue: Callable[[], object]) -> tuple[float, str]:
    """Enqueue a job and run it in a burst worker process; returns the seconds from enqueue to
    the worker's exit, and the peak RSS of the worker and of its reader child, in words.

    The worker is started and has loaded the app before the job is enqueued (as a deployed
    worker waits), unless COLD_WORKER is set (the method of the figures before 2026-12-07:
    the worker process started after the enqueue, its ~1.7 s of start-up timed too).
    The child (reading and validating in a forked process for large files) is a separate
    process: at the worst moment both hold their peaks, so the sum bounds the import's memory.
    """
    command = [sys.executable, "-m", "benchmarks.worker", "imports"]
    if COLD_WORKER:
        start = time.perf_counter()
        enqueue()
        out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        stdout = out.stdout
    else:
        worker = subprocess.Popen(
            [*command, "--wait"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        start = time.perf_counter()
        enqueue()
        stdout, _ = worker.communicate("go\n")
        assert worker.returncode == 0, worker.returncode
    elapsed = time.perf_counter() - start
    peaks = json.loads(stdout.strip().splitlines()[-1])
    own, child = peaks["peak_rss_mb"], peaks.get("reader_peak_rss_mb", 0)
    if child < 1:
        return elapsed, f"{own:.0f} MB"
    return elapsed, f"{own:.0f} MB + reader {child:.0f} MB"


def prepare(database: str) -> tuple[Path, str, dict[str, str]]:
    """An empty Redis db, a fresh database and a temp folder; the app's environment points at them."""
    from redis import Redis

    Redis.from_url(REDIS_URL).flushdb()
    folder = Path(tempfile.mkdtemp(prefix=f"{database}-"))
    database_url = fresh_database(database)
    env = environment(database_url, folder)
    os.environ.update(env)
    return folder, database_url, env


def new_import(tenant, path: Path, name: str = "", extras: bool = False):  # type: ignore[no-untyped-def]
    """Store `path` and commit its import job in the issue's configuration (update, validation
    on); with `extras`, also an import tag and a new segment for every row (two more links)."""
    from app.imports.options import ImportOptions
    from app.imports.service import create_import_job, store_upload

    with path.open("rb") as f:
        key, size = store_upload(tenant.id, f, path.name)
    options = ImportOptions(
        file_name=path.name,
        file_key=key,
        field_mapping=dict(MAPPING),
        duplicate_strategy="update",
        validate_email=True,
        validate_phone=True,
        default_region="GB",
        tags=["benchmark"] if extras else [],
        segment_name=f"Bench {name}" if extras else None,
    )
    return create_import_job(tenant.id, options, file_size=size)


def measure_import(
    app, env, tenant, path: Path, name: str, extras: bool = False
) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Import `path` through a real worker process, timed from enqueue to `completed`."""
    from app.extensions import db
    from app.jobs.submit import enqueue_import
    from app.models import ImportJob

    job = new_import(tenant, path, name, extras)
    elapsed, peak = run_worker(env, lambda: enqueue_import(job))
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status == "completed", (job.status, job.failure_message)
    return {
        "job": job,
        "seconds": elapsed,
        "rows_per_s": job.processed_rows / elapsed,
        "peak_mb": peak,
    }


def measure_rollback(app, env, job) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from app.extensions import db
    from app.jobs.submit import queue_rollback
    from app.models import ImportJob

    elapsed, peak = run_worker(env, lambda: queue_rollback(job))
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status == "rolled_back", job.rollback_result
    return {
        "seconds": elapsed,
        "rows_per_s": job.processed_rows / elapsed,
        "peak_mb": peak,
        "events": job.rollback_total,
    }


def main() -> None:
    """Run the benchmark and print a Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--skip-rollback", action="store_true")
    parser.add_argument(
        "--extras-rows",
        type=int,
        default=100_000,
        help="also import this many rows with an import tag and a new segment (0: skip)",
    )
    args = parser.parse_args()

    folder, database_url, env = prepare("cio_bench")

    from flask_migrate import upgrade

    from app import create_app
    from app.cli import get_or_create_tenant
    from app.extensions import db

    app = create_app()
    waits = "started after the enqueue (COLD_WORKER)" if COLD_WORKER else "already waiting"
    lines = [f"Machine: {machine()}", f"Timed from enqueue to completed, the worker {waits}", ""]
    with app.app_context():
        upgrade()
        results = []
        for rows in args.rows:
            tenant = get_or_create_tenant(f"Bench CSV {rows}")
            db.session.commit()
            seeded = seed_existing(database_url, tenant.id, rows)
            path = write_csv(folder / f"contacts-{rows}.csv", rows)
            r = measure_import(app, env, tenant, path, f"csv {rows}")
            job = r["job"]
            line = (
                f"| CSV import, update, validation on | {rows:,} rows ({seeded:,} already in the tenant) | "
                f"{r['seconds']:.1f} s | **{r['rows_per_s']:,.0f} rows/s** | {r['peak_mb']} | "
                f"created {job.created_count:,}, updated {job.updated_count:,}, unchanged {job.unchanged_count:,}, "
                f"errors {job.error_count:,} |"
            )
            print(line, flush=True)
            results.append(line)
            if not args.skip_rollback:
                rb = measure_rollback(app, env, job)
                line = (
                    f"| Rollback of that import | {rows:,} rows ({rb['events']:,} journal rows and created contacts) | "
                    f"{rb['seconds']:.1f} s | **{rb['rows_per_s']:,.0f} rows/s** | {rb['peak_mb']} | |"
                )
                print(line, flush=True)
                results.append(line)
        if args.extras_rows:
            rows = args.extras_rows
            tenant = get_or_create_tenant(f"Bench extras {rows}")
            db.session.commit()
            seeded = seed_existing(database_url, tenant.id, rows)
            path = write_csv(folder / f"extras-{rows}.csv", rows)
            r = measure_import(app, env, tenant, path, f"extras {rows}", extras=True)
            line = (
                f"| CSV import, update, validation on, plus an import tag and a new segment | "
                f"{rows:,} rows ({seeded:,} already in the tenant) | {r['seconds']:.1f} s | "
                f"**{r['rows_per_s']:,.0f} rows/s** | {r['peak_mb']} | |"
            )
            print(line, flush=True)
            results.append(line)
        if args.xlsx_rows:
            rows = args.xlsx_rows
            tenant = get_or_create_tenant(f"Bench XLSX {rows}")
            db.session.commit()
            seed_existing(database_url, tenant.id, rows)
            path = write_xlsx(folder / f"contacts-{rows}.xlsx", rows)
            r = measure_import(app, env, tenant, path, f"xlsx {rows}")
            line = (
                f"| XLSX import, update, validation on | {rows:,} rows | {r['seconds']:.1f} s | "
                f"**{r['rows_per_s']:,.0f} rows/s** | {r['peak_mb']} | |"
            )
            print(line, flush=True)
            results.append(line)
        if args.naive_rows:
            from benchmarks.naive import naive_import

            rows = args.naive_rows
            tenant = get_or_create_tenant(f"Bench naive {rows}")
            db.session.commit()
            seed_existing(database_url, tenant.id, rows)
            path = write_csv(folder / f"naive-{rows}.csv", rows)
            seconds = naive_import(tenant.id, path)
            line = (
                f"| Naive design (lookup + write + progress per row) | {rows:,} rows | {seconds:.1f} s | "
                f"**{rows / seconds:,.0f} rows/s** | | |"
            )
            print(line, flush=True)
            results.append(line)
            tenant = get_or_create_tenant(f"Bench engine {rows}")
            db.session.commit()
            seed_existing(database_url, tenant.id, rows)
            r = measure_import(app, env, tenant, path, f"engine {rows}")
            line = (
                f"| This engine on the same slice | {rows:,} rows | {r['seconds']:.1f} s | "
                f"**{r['rows_per_s']:,.0f} rows/s** | {r['peak_mb']} | |"
            )
            print(line, flush=True)
            results.append(line)
    print(
        "\n".join(
            [
                *lines,
                "| what | size | time | speed | worker peak RSS | result |",
                "|---|---|---|---|---|---|",
                *results,
            ]
        )
    )


if __name__ == "__main__":
    main()
