"""The engine on the embedded default: `python -m benchmarks.sqlite_bench --rows 100000`.

SQLite's speed is not a target (issue 12), but it is what every new user meets first, so it is
recorded. The same data and configuration as `import_bench` (half of the file's emails already
in the tenant, strategy update, email and phone validation on), run in this process on a fresh
SQLite file (WAL, foreign keys on, as the app opens it): the import, then its rollback. Times are
wall clock; the process's CPU time is printed beside them with the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.data import email_for, write_csv
from benchmarks.import_bench import machine, new_import


def main() -> None:
    """Import and roll back once on SQLite; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cio-sqlite-"))
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
            "INSTANCE_PATH": str(folder / "instance"),
            "STORAGE_LOCAL_PATH": str(folder / "storage"),
            "SECRET_KEY": "benchmark-" + "x" * 40,
        }
    )

    from flask_migrate import upgrade
    from sqlalchemy import insert

    from app import create_app
    from app.cli import get_or_create_tenant
    from app.extensions import db
    from app.imports.importing import run_import
    from app.imports.rollback_job import run_rollback, start_rollback
    from app.models import Contact
    from app.models.types import new_id, utcnow

    app = create_app()
    with app.app_context():
        upgrade()
        tenant = get_or_create_tenant("Bench SQLite")
        db.session.commit()
        now = utcnow()
        existing = [
            {
                "id": new_id(),
                "tenant_id": tenant.id,
                "email": email_for(n),
                "email_normalized": email_for(n),
                "first_name": "Old",
                "last_name": "Name",
                "company": "Old Co",
                "custom_fields": {},
                "subscription_status": "unsubscribed" if n % 50 == 0 else "subscribed",
                "emails_opened": 0,
                "emails_clicked": 0,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(0, args.rows, 2)
        ]
        db.session.execute(insert(Contact.__table__), existing)
        db.session.commit()
        job = new_import(tenant, write_csv(folder / "contacts.csv", args.rows), "sqlite")
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        job = run_import(job.id)
        import_wall, import_cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert job.status == "completed", job.failure_message
        start_rollback(job)
        wall, cpu = time.perf_counter(), time.process_time()
        job = run_rollback(job.id)
        rollback_wall, rollback_cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert job.status == "rolled_back", job.rollback_result
        rows = job.processed_rows
        print(f"Machine: {machine()}; load average {load:.2f} at the start")
        print("| what | rows | time | speed | this process's CPU |")
        print("|---|---|---|---|---|")
        print(
            f"| import on SQLite | {rows:,} ({len(existing):,} already in the tenant) | "
            f"{import_wall:.1f} s | **{rows / import_wall:,.0f} rows/s** | {import_cpu:.1f} s |"
        )
        print(
            f"| its rollback | {rows:,} | {rollback_wall:.1f} s | "
            f"**{rows / rollback_wall:,.0f} rows/s** | {rollback_cpu:.1f} s |"
        )


if __name__ == "__main__":
    main()
