"""Where each imported row's CPU goes: `python -m benchmarks.cpu_per_row --rows 100000`.

Runs one import in this process (no RQ worker) on the import benchmark's data and tenant set-up
(`benchmarks.import_bench`: half of the file's emails already in the tenant, strategy update,
email and phone validation on) and reports, per row:

- the writer: this process's own CPU (`time.process_time`): planning each row, the journal,
  encoding the COPY rows, SQLAlchemy;
- the reader and validator: the forked child that reads and validates files of
  IMPORT_PARALLEL_ROWS rows and more (`RUSAGE_CHILDREN`);
- PostgreSQL: every `postgres` process's run time in nanoseconds from `/proc/<pid>/schedstat`
  (backends, WAL writer, checkpointer), so no 10 ms tick rounding.

Then the reading process's share split in three (reading, validating, formatting the COPY text),
timed in this process over the same file (`--split-rows` of it).

CPU time does not depend much on what else the machine does; the wall clock does, so the load
average is printed beside it. It replaces `db_floor.py`, whose "floor" used random v4 ids, an
all-new workload and tick-rounded CPU (issue 12 explains why that overstated the floor).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from benchmarks.data import write_csv
from benchmarks.import_bench import machine, new_import, prepare, seed_existing


def postgres_cpu_seconds() -> float:
    """The run time of every postgres process on this machine, in seconds."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
            total += int((proc / "schedstat").read_text().split()[0])
        except OSError:
            continue  # the process ended meanwhile
    return total / 1e9


def main() -> None:
    """Import once and print the CPU table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--split-rows",
        type=int,
        default=200_000,
        help="rows read again to split the reader's share",
    )
    args = parser.parse_args()
    folder, database_url, _env = prepare("cio_cpu_per_row")

    from flask_migrate import upgrade

    from app import create_app
    from app.cli import get_or_create_tenant
    from app.extensions import db
    from app.imports.importing import run_import

    app = create_app()
    with app.app_context():
        upgrade()
        tenant = get_or_create_tenant("Bench CPU")
        db.session.commit()
        seed_existing(database_url, tenant.id, args.rows)
        job = new_import(tenant, write_csv(folder / "contacts.csv", args.rows), "cpu")
        load = os.getloadavg()[0]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, own, pg = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
        job = run_import(job.id)
        wall, own = time.perf_counter() - wall, time.process_time() - own
        pg = postgres_cpu_seconds() - pg
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        rows = job.processed_rows or 1
        print(f"Machine: {machine()}; load average {load:.2f} at the start")
        print(f"Import {job.status}: {rows:,} rows in {wall:.1f} s ({rows / wall:,.0f} rows/s)")
        print("| part | CPU per row |")
        print("|---|---|")
        for name, seconds in (
            ("the writer (this process)", own),
            ("reading and validating (forked child)", child),
            ("PostgreSQL (every postgres process)", pg),
        ):
            print(f"| {name} | {seconds * 1e6 / rows:.1f} µs |")
        print(f"| wall clock | {wall * 1e6 / rows:.0f} µs |")
        print()
        print(reading_split(job, min(rows, args.split_rows)))


def reading_split(job, rows: int) -> str:  # type: ignore[no-untyped-def]
    """The reading process's share split in three, in this process over the import's own file
    and settings: reading the rows, validating them, formatting the clean ones as COPY text."""
    from itertools import islice

    from app.imports.copy_lines import RowEncoder
    from app.imports.pipeline import opened_source

    with opened_source(job) as source:
        start = time.process_time()
        read = list(islice(source.table.rows(), rows))
        reading = time.process_time() - start
        start = time.process_time()
        results = [source.validator.validate(row.line, row.values) for row in read]
        validating = time.process_time() - start
        clean = [r for r in results if not isinstance(r, list)]
        encode = RowEncoder()
        start = time.process_time()
        for first in range(0, len(clean), 5000):
            encode(clean[first : first + 5000])
        formatting = time.process_time() - start
    lines = [
        f"The reading process's share, split (in this process, the first {len(read):,} rows):",
        "| part | CPU per row |",
        "|---|---|",
        f"| reading the file | {reading * 1e6 / len(read):.1f} µs |",
        f"| validating (email, phone, dates, numbers, tags) | {validating * 1e6 / len(read):.1f} µs |",
        f"| formatting the COPY text of the clean rows | {formatting * 1e6 / len(read):.1f} µs |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
