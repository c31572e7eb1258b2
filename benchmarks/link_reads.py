"""Reads over tag links with and without contact_tags' foreign key to contacts, interleaved.

    .venv/bin/python -m benchmarks.link_reads [DATABASE_URL]

Migration 0011 dropped the key (issue 12); this prices what that does to reads. On the given
database (default `cio_prof`, filled as docs/benchmarks.md says) it takes the largest tenant,
adds the key back, times the contacts page's tag filter (the count and the first page, best of
three) and an export-by-tag COPY (with the tags column), drops the key, times them again, four
rounds. It leaves the key dropped, as migration 0011 does.
"""

import os
import sys
import time

import psycopg

URL = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/cio_prof"
conn = psycopg.connect(URL, autocommit=True)
cur = conn.cursor()
(tenant,) = cur.execute(
    "SELECT tenant_id FROM contacts GROUP BY tenant_id ORDER BY count(*) DESC LIMIT 1"
).fetchone()
(tag,) = cur.execute(
    "SELECT id FROM tags WHERE tenant_id = %s AND name_normalized = 'vip'", (tenant,)
).fetchone()
print(
    "contacts",
    cur.execute("SELECT count(*) FROM contacts WHERE tenant_id=%s", (tenant,)).fetchone()[0],
    "links",
    cur.execute("SELECT count(*) FROM contact_tags").fetchone()[0],
    "load",
    os.getloadavg()[0],
)
PAGE = """SELECT count(*) FROM (SELECT id FROM contacts WHERE tenant_id = %(t)s AND id IN
 (SELECT contact_id FROM contact_tags WHERE tag_id IN (%(tag)s))) s;
SELECT id, email FROM contacts WHERE tenant_id = %(t)s AND id IN
 (SELECT contact_id FROM contact_tags WHERE tag_id IN (%(tag)s)) ORDER BY created_at DESC, id LIMIT 50 OFFSET 0"""
EXPORT = """COPY (SELECT c.id, c.email, c.first_name, (SELECT string_agg(t.name, ', ' ORDER BY t.name)
 FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.contact_id = c.id) FROM contacts c
 WHERE c.tenant_id = %(t)s AND c.id IN (SELECT contact_id FROM contact_tags WHERE tag_id IN (%(tag)s))) TO STDOUT"""


def timed(sql):
    t = time.perf_counter()
    if sql.startswith("COPY"):
        with cur.copy(sql.replace("%(t)s", f"'{tenant}'").replace("%(tag)s", f"'{tag}'")) as c:
            for _ in c:
                pass
    else:
        for part in sql.split(";"):
            cur.execute(part, {"t": tenant, "tag": tag})
            cur.fetchall()
    return time.perf_counter() - t


def fk(on):
    if on:
        cur.execute(
            "ALTER TABLE contact_tags ADD CONSTRAINT fk_tmp FOREIGN KEY (contact_id) REFERENCES contacts(id) ON DELETE CASCADE"
        )
    else:
        cur.execute("ALTER TABLE contact_tags DROP CONSTRAINT IF EXISTS fk_tmp")
    cur.execute("ANALYZE contact_tags")
    cur.execute("ANALYZE contacts")


res = {True: {"page": [], "export": []}, False: {"page": [], "export": []}}
for _round in range(4):
    for on in (True, False):
        fk(on)
        timed(PAGE)
        timed(EXPORT)  # warm
        res[on]["page"].append(min(timed(PAGE) for _ in range(3)))
        res[on]["export"].append(timed(EXPORT))
fk(False)
for on in (True, False):
    print(
        "with FK" if on else "without FK",
        "page ms",
        [round(x * 1000, 1) for x in res[on]["page"]],
        "export ms",
        [round(x * 1000) for x in res[on]["export"]],
    )
print("load", os.getloadavg()[0])
