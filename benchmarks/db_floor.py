"""What PostgreSQL alone needs per row: `python -m benchmarks.db_floor --rows 100000`.

Run it after `benchmarks.import_bench` (it uses that database, `cio_bench`, for a tenant, an
import job, a segment and two tags). It writes new contacts the cheapest way this schema allows,
with no Python per row beyond one COPY: COPY into a temporary table, then one INSERT ... SELECT
per table (contacts, their journal rows, two tag links and a segment link each), and then rolls
them back the same way (DELETE of the contacts with their links, the journal marked reverted).
It reports the PostgreSQL backend's own CPU time per row and per statement (from /proc), which
does not depend on what else the machine is doing: a floor under any import or rollback design
that keeps the journal, the links and their foreign keys.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.import_bench import ADMIN_URL

URL = ADMIN_URL.rsplit("/", 1)[0] + "/cio_bench"


def main() -> None:
    """Measure and print the floor."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    with psycopg.connect(URL) as conn, conn.cursor() as cur:
        pid = cur.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]

        def cpu() -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        spent: Counter[str] = Counter()

        def run(name: str, sql: str, params: Any = None) -> None:
            before = cpu()
            cur.execute(sql, params)
            spent[name] += cpu() - before

        job, tenant = cur.execute("SELECT id, tenant_id FROM import_jobs LIMIT 1").fetchone()  # type: ignore[misc]
        segment = cur.execute("SELECT id FROM segments LIMIT 1").fetchone()[0]  # type: ignore[index]
        tags = [r[0] for r in cur.execute("SELECT id FROM tags LIMIT 2").fetchall()]
        cur.execute(
            "CREATE TEMP TABLE floor_stage (id uuid, email text, first_name text, last_name text,"
            " company text, phone text, custom_fields jsonb, row_number int) ON COMMIT DELETE ROWS"
        )
        conn.commit()
        run_id = uuid.uuid4().hex[:8]
        custom = json.dumps({"city": "Leeds", "zip": "01234", "score": 5, "signup": "2024-01-01"})
        ids: list[uuid.UUID] = []
        started, cpu_start = time.perf_counter(), cpu()
        for first in range(0, args.rows, args.batch):
            batch = range(first, min(first + args.batch, args.rows))
            before = cpu()
            with cur.copy("COPY floor_stage FROM STDIN") as copy:
                for i in batch:
                    ids.append(uuid.uuid4())
                    copy.write_row(
                        (ids[-1], f"floor{run_id}-{i}@example.com", "Ann", "Lee", "Co",
                         "+442079460958", custom, i)
                    )  # fmt: skip
            spent["copy"] += cpu() - before
            run(
                "contacts",
                "INSERT INTO contacts (id, tenant_id, email, email_normalized, first_name,"
                " last_name, company, phone, custom_fields, subscription_status, emails_opened,"
                " emails_clicked, created_at, updated_at) SELECT id, %s, email, email, first_name,"
                " last_name, company, phone, custom_fields, 'subscribed', 0, 0, now(), now()"
                " FROM floor_stage ON CONFLICT (tenant_id, email_normalized) DO NOTHING",
                (tenant,),
            )
            run(
                "journal",
                "INSERT INTO import_events (id, import_job_id, contact_id, event_type, new_data,"
                " created_at, row_number) SELECT gen_random_uuid(), %s, id, 'created',"
                " jsonb_build_object('email', email, 'first_name', first_name, 'last_name',"
                " last_name, 'company', company, 'phone', phone, 'custom', custom_fields), now(),"
                " row_number FROM floor_stage",
                (job,),
            )
            run(
                "2 tag links",
                "INSERT INTO contact_tags (contact_id, tag_id)"
                " SELECT s.id, t FROM floor_stage s, unnest(%s::uuid[]) t",
                (tags,),
            )
            run(
                "segment link",
                "INSERT INTO segment_contacts (segment_id, contact_id) SELECT %s, id FROM floor_stage",
                (segment,),
            )
            conn.commit()
        import_wall, import_cpu = time.perf_counter() - started, cpu() - cpu_start
        imported = dict(spent)
        spent.clear()
        started, cpu_start = time.perf_counter(), cpu()
        for first in range(0, len(ids), args.batch):
            chunk = ids[first : first + args.batch]
            run(
                "mark journal",
                "UPDATE import_events SET reverted_at = now()"
                " WHERE import_job_id = %s AND contact_id = ANY(%s)",
                (job, chunk),
            )
            run("delete with links", "DELETE FROM contacts WHERE id = ANY(%s)", (chunk,))
            conn.commit()
        rollback_wall, rollback_cpu = time.perf_counter() - started, cpu() - cpu_start
        cur.execute("DELETE FROM import_events WHERE contact_id = ANY(%s)", (ids,))
        conn.commit()

    def per_row(seconds: float) -> str:
        return f"{seconds / args.rows * 1e6:.0f} µs"

    print(f"rows: {args.rows:,}, batches of {args.batch:,}")
    print(
        f"import floor: PostgreSQL CPU {per_row(import_cpu)}/row "
        f"(at most {args.rows / import_cpu:,.0f} rows/s for a whole core); wall "
        f"{args.rows / import_wall:,.0f} rows/s; "
        + ", ".join(f"{k} {per_row(v)}" for k, v in imported.items())
    )
    print(
        f"rollback floor: PostgreSQL CPU {per_row(rollback_cpu)}/row "
        f"(at most {args.rows / rollback_cpu:,.0f} rows/s for a whole core); wall "
        f"{args.rows / rollback_wall:,.0f} rows/s; "
        + ", ".join(f"{k} {per_row(v)}" for k, v in spent.items())
    )


if __name__ == "__main__":
    main()
