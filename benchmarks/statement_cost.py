"""What each SQL statement of an import costs: `python -m benchmarks.statement_cost --rows 1000000`.

Runs one import in this process on the import benchmark's data (`benchmarks.import_bench`: half
of the file's emails already in the tenant, strategy update, email and phone validation on) and
prints, per statement of the write path, per imported row:

- the CPU of the PostgreSQL backend that ran it, read from `/proc/<pid>/schedstat` before and
  after each execute or COPY (nanoseconds, no tick rounding);
- the WAL it wrote (`pg_current_wal_insert_lsn()` read on a second connection before and after;
  nothing else writes to this database meanwhile).

Then the run's whole WAL per row, the checkpoints it caused and the buffers the backends had to
write themselves (shared buffers full), and the contacts' updates and how many were HOT. This is
the table to price a change to the schema or to a statement before building it
(`docs/benchmarks.md`); `--pre-sql` runs statements before the tenant is seeded, e.g. to try an
index dropped or a table setting.
"""

from __future__ import annotations

import argparse
import collections
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from benchmarks.data import write_csv
from benchmarks.import_bench import machine, new_import, prepare, seed_existing

_STATS_SQL = (
    "SELECT pg_current_wal_insert_lsn(), checkpoints_timed + checkpoints_req, buffers_backend "
    "FROM pg_stat_bgwriter"
)


class StatementMeter:
    """Counts, backend CPU and WAL bytes of every statement psycopg runs, by the statement's head."""

    def __init__(self, admin: psycopg.Connection[Any]) -> None:
        self.admin = admin
        self.totals: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0])
        self._execute = psycopg.Cursor.execute
        self._copy = psycopg.Cursor.copy

    def _wal(self) -> int:
        cur = self.admin.cursor()
        self._execute(cur, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')")
        row = cur.fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _cpu(cursor: psycopg.Cursor[Any]) -> float:
        stat = Path(f"/proc/{cursor.connection.info.backend_pid}/schedstat").read_text()
        return int(stat.split()[0]) / 1e9

    def _add(self, head: Any, cpu: float, wal: int) -> None:
        key = " ".join(str(head).split())[:70]
        total = self.totals[key]
        total[0] += 1
        total[1] += cpu
        total[2] += wal

    def install(self) -> None:
        """Wrap psycopg's execute and copy for the rest of the process."""
        meter = self

        def execute(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
            cpu, wal = meter._cpu(cursor), meter._wal()
            try:
                return meter._execute(cursor, query, *args, **kwargs)
            finally:
                meter._add(query, meter._cpu(cursor) - cpu, meter._wal() - wal)

        @contextmanager
        def copy(
            cursor: psycopg.Cursor[Any], statement: Any, *args: Any, **kwargs: Any
        ) -> Iterator[Any]:
            cpu, wal = meter._cpu(cursor), meter._wal()
            with meter._copy(cursor, statement, *args, **kwargs) as stream:
                yield stream
            meter._add(statement, meter._cpu(cursor) - cpu, meter._wal() - wal)

        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        psycopg.Cursor.copy = copy  # type: ignore[assignment,method-assign]


def main() -> None:
    """Import once with every statement metered and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--pre-sql", default="", help="statements run before seeding (`;`)")
    args = parser.parse_args()
    folder, database_url, _env = prepare("cio_statement_cost")

    from flask_migrate import upgrade

    from app import create_app
    from app.cli import get_or_create_tenant
    from app.extensions import db
    from app.imports.importing import run_import

    app = create_app()
    with app.app_context():
        upgrade()
        for statement in filter(str.strip, args.pre_sql.split(";")):
            db.session.execute(text(statement))
        tenant = get_or_create_tenant("Bench statements")
        db.session.commit()
        seed_existing(database_url, tenant.id, args.rows)
        job = new_import(tenant, write_csv(folder / "contacts.csv", args.rows), "statements")
        admin = psycopg.connect(
            database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
        )
        meter = StatementMeter(admin)
        meter.install()
        load = os.getloadavg()[0]
        before = admin.execute(_STATS_SQL).fetchone()
        wall = time.perf_counter()
        job = run_import(job.id)
        wall = time.perf_counter() - wall
        after = admin.execute(_STATS_SQL).fetchone()
        assert before is not None and after is not None  # nosec B101 # one row, always
        wal = admin.execute("SELECT pg_wal_lsn_diff(%s, %s)", (after[0], before[0])).fetchone()
        hot = admin.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'contacts'"
        ).fetchone()
        rows = job.processed_rows or 1
        print(f"Machine: {machine()}; load average {load:.2f} at the start")
        print(f"Import {job.status}: {rows:,} rows in {wall:.1f} s ({rows / wall:,.0f} rows/s)")
        print("| statement (its start) | runs | backend CPU per row | WAL per row |")
        print("|---|---|---|---|")
        cpu_total = 0.0
        for head, (runs, cpu, wal_bytes) in sorted(meter.totals.items(), key=lambda t: -t[1][1]):
            cpu_total += cpu
            if cpu * 1e6 / rows >= 0.1:
                line = f"| `{head}` | {runs:,.0f} | {cpu * 1e6 / rows:.2f} µs | {wal_bytes / rows:,.0f} B |"
                print(line)
        print(f"| all statements | | {cpu_total * 1e6 / rows:.2f} µs | |")
        print(
            f"WAL {float(wal[0] if wal else 0) / rows:,.0f} B a row; checkpoints "
            f"{after[1] - before[1]}; buffers written by backends {after[2] - before[2]:,}; "
            f"contacts updated {hot[0] if hot else 0:,}, HOT {hot[1] if hot else 0:,}"
        )


if __name__ == "__main__":
    main()
