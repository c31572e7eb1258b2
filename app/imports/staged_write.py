"""The set-based write of a batch on PostgreSQL: COPY the rows into a stage, decide and write in SQL.

Python does per row only what needs Python: the process that reads and validates the file
also formats each clean row as a line of COPY text (`app.imports.copy_lines`), with the ids
the row's contact and journal row would get. The writer streams those bytes into `import_stage` and runs
a handful of statements per batch (`StagedWriter.write`):

1. the tenant's contacts with the batch's emails are read and locked (`import_current`),
   each with the first row of this import that touched it before (it created it, or its
   journal, read only for a row whose email an earlier batch may have had);
2. one statement decides every row (`import_match`): created, updated, unchanged, skipped,
   repeating an earlier row, with the field rules (overwrite, fill only if empty, never;
   blank cells erase only when asked; unsubscribed contacts are never subscribed again) as
   SQL expressions, and the journal's before/after values of the fields it changes;
3. new contacts are inserted (a concurrent import that created one meanwhile shows in the
   inserted count: the batch is planned again), changed ones updated from the match;
4. tag and segment links are added (and replaced, when asked) and the journal written, in one
   statement that sees which links were really new.

A batch whose file repeats an email is written in rounds: the rows that bring an email for the
second time come after the first ones, and meet the contact as the earlier row left it, as a
row of a later batch does. `app.imports.upsert.plan_batch` states the same rules in Python,
for SQLite and the dry run; `tests/imports/test_staged_write.py` holds the two to the same
results.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from app.dbapi import driver_connection
from app.imports.batch_lookups import own_plan
from app.imports.batch_write import ensure_tags
from app.imports.consent import INACTIVE_STATUSES, UNSUBSCRIBED
from app.imports.copy_lines import STAGE_COLUMNS, StagedRows, tag_key
from app.imports.mapping import FieldTarget
from app.imports.upsert import STANDARD_FIELDS, BatchPlan, ImportSettings
from app.models.types import utcnow

_STATUS = "subscription_status"
_DATES = ("consented_on", "unsubscribed_on")
_TEXTS = tuple(f for f in STANDARD_FIELDS if f not in _DATES and f != _STATUS)


def mapped_fields(targets: dict[str, FieldTarget]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The standard fields and custom field keys an import's mapping writes."""
    standard = {t.key for t in targets.values() if t.kind not in ("custom", "tags", "ignore")}
    custom = sorted({str(t.key) for t in targets.values() if t.kind == "custom" and t.key})
    return tuple(f for f in STANDARD_FIELDS if f in standard), tuple(custom)


_CREATE_TABLES = (
    """CREATE TEMP TABLE IF NOT EXISTS import_stage (
        row_number integer, round integer, batch_first integer, maybe_earlier boolean,
        id uuid, event_id uuid,
        email text, email_normalized text, first_name text, last_name text, company text,
        phone text, consented_on date, unsubscribed_on date, subscription_status text,
        custom jsonb, tags text[], tags_norm text[]
    ) ON COMMIT DELETE ROWS""",
    """CREATE TEMP TABLE IF NOT EXISTS import_current (
        email_normalized text, id uuid, first_name text, last_name text, company text,
        phone text, consented_on date, unsubscribed_on date, subscription_status text,
        custom_fields jsonb, earlier integer
    ) ON COMMIT DELETE ROWS""",
    """CREATE TEMP TABLE IF NOT EXISTS import_match (
        row_number integer, contact_id uuid, event_id uuid, email text, email_normalized text,
        is_new boolean, kind text, repeat boolean, member boolean, unsubscribed_match boolean,
        changed boolean, first_name text, last_name text, company text, phone text,
        consented_on date, unsubscribed_on date, subscription_status text,
        custom_fields jsonb, tags_norm text[], previous jsonb, next jsonb
    ) ON COMMIT DELETE ROWS""",
)

# the import compared as text: see `batch_lookups.fetch_earlier_rows`
_CURRENT = text("""
INSERT INTO import_current
SELECT c.email_normalized, c.id, c.first_name, c.last_name, c.company, c.phone, c.consented_on,
       c.unsubscribed_on, c.subscription_status, c.custom_fields,
       CASE WHEN c.created_by_import_id = CAST(:job AS uuid) AND c.created_from_row IS NOT NULL
            THEN c.created_from_row
            WHEN s.maybe_earlier  -- `copy_lines.EmailMemory`: no earlier batch had the email
            THEN (SELECT min(e.row_number) FROM import_events e
                  WHERE e.contact_id = c.id AND e.import_job_id::text = CAST(:job AS text)) END
FROM import_stage s
CROSS JOIN LATERAL (
    SELECT id, email_normalized, first_name, last_name, company, phone, consented_on,
           unsubscribed_on, subscription_status, custom_fields, created_by_import_id,
           created_from_row
    FROM contacts WHERE tenant_id = CAST(:tenant AS uuid) AND email_normalized = s.email_normalized OFFSET 0
) c
WHERE s.round = :round
ORDER BY c.id
FOR UPDATE OF c
""")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json_object(pairs: list[str]) -> str:
    """jsonb_build_object of "key, value" pairs (it takes at most 100 arguments: 50 pairs)."""
    chunks = [pairs[i : i + 50] for i in range(0, len(pairs), 50)] or [[]]
    return "(" + " || ".join(f"jsonb_build_object({', '.join(chunk)})" for chunk in chunks) + ")"


class StagedWriter:
    """The statements of one import's batches, built once from its settings and mapping."""

    def __init__(
        self, settings: ImportSettings, fields: tuple[str, ...], custom_keys: tuple[str, ...]
    ) -> None:
        self.settings = settings
        # built once: text() parses a statement for its parameters each time it is made
        self._match = text(self._match_sql(fields, custom_keys))
        update = ", ".join(f"{f} = m.{f}" for f in fields if f != _STATUS)
        self._update = text(
            "UPDATE contacts AS c SET "  # nosec B608 # our own table, column and custom field names (keys are [a-z0-9_]); values bound
            + (update + ", " if update else "")
            + "subscription_status = m.subscription_status, custom_fields = m.custom_fields, "
            "updated_at = CAST(:now AS timestamptz) FROM import_match AS m "
            "WHERE c.id = m.contact_id AND m.kind = 'updated'"
        )
        self._links = text(self._links_sql())

    # -- the decision ------------------------------------------------------------------------

    def _match_sql(self, fields: tuple[str, ...], custom_keys: tuple[str, ...]) -> str:
        s = self.settings
        update = s.strategy == "update"
        rules = s.field_rules
        values: dict[str, str] = {}
        changed: list[tuple[str, str]] = []  # (journal key, condition)
        for name in STANDARD_FIELDS:
            if name == _STATUS:
                continue
            if name not in fields:
                values[name] = f"cur.{name}"  # NULL for a new contact
                continue
            existing = (
                self._rule(f"cur.{name}", f"s.{name}", rules.get(name, "overwrite"), name in _TEXTS)
                if update
                else f"cur.{name}"
            )
            values[name] = f"CASE WHEN cur.id IS NULL THEN s.{name} ELSE {existing} END"
            if update:
                changed.append((name, f"d.{name} IS DISTINCT FROM d.old_{name}"))
        values[_STATUS] = self._status_sql(_STATUS in fields)
        changed.append((_STATUS, f"d.{_STATUS} IS DISTINCT FROM d.old_{_STATUS}"))

        customs: list[tuple[str, str]] = []
        for key in custom_keys:
            cur = f"NULLIF(cur.custom_fields -> {_quote(key)}, 'null'::jsonb)"
            new = f"(s.custom -> {_quote(key)})"
            rule = rules.get(f"custom:{key}", "overwrite")
            existing = self._rule(cur, new, rule, True, json=True) if update else cur
            customs.append((key, f"CASE WHEN cur.id IS NULL THEN {new} ELSE {existing} END"))
        if customs and update:
            keys = "ARRAY[" + ", ".join(_quote(k) for k, _ in customs) + "]::text[]"
            pairs = [f"{_quote(k)}, {expr}" for k, expr in customs]
            values["custom_fields"] = (
                "CASE WHEN cur.id IS NULL THEN s.custom ELSE "
                f"(cur.custom_fields - {keys}) || jsonb_strip_nulls({_json_object(pairs)}) END"
            )
        else:
            values["custom_fields"] = (
                "CASE WHEN cur.id IS NULL THEN s.custom ELSE cur.custom_fields END"
            )
        custom_olds = ", ".join(
            f"NULLIF(cur.custom_fields -> {_quote(k)}, 'null'::jsonb) AS old_c{i}"
            for i, (k, _) in enumerate(customs)
        )
        custom_news = ", ".join(f"{expr} AS c{i}" for i, (_, expr) in enumerate(customs))
        custom_changed = (
            [(key, f"d.c{i} IS DISTINCT FROM d.old_c{i}") for i, (key, _) in enumerate(customs)]
            if update
            else []
        )

        # each field's "changed" is computed once, as a column (ch0, ch1, ...) the journal's two
        # snapshots and the row's changed flag read
        conditions = [cond for _, cond in changed + custom_changed]
        flags = ", ".join(f"({cond}) AS ch{i}" for i, cond in enumerate(conditions))
        any_changed = " OR ".join(f"d.ch{i}" for i in range(len(conditions))) or "false"
        changed = [(name, f"d.ch{i}") for i, (name, _) in enumerate(changed)]
        custom_changed = [
            (key, f"d.ch{len(changed) + i}") for i, (key, _) in enumerate(custom_changed)
        ]
        previous = self._snapshot(changed, custom_changed, "d.old_")
        following = self._snapshot(changed, custom_changed, "d.")
        if update:
            kind = "CASE WHEN d.is_new THEN 'created' WHEN d.changed THEN 'updated' ELSE 'unchanged' END"
            member = "true"
            repeat = "NOT d.is_new AND d.first_row IS NOT NULL"
        else:
            suppress = (
                f"WHEN d.old_{_STATUS} <> '{UNSUBSCRIBED}' THEN 'updated' "
                if s.suppression_list
                else ""
            )
            other = "'matched'" if s.strategy == "create" else "'skipped'"
            kind = (
                "CASE WHEN d.is_new THEN 'created' WHEN d.first_row IS NOT NULL THEN 'duplicate' "
                f"{suppress}ELSE {other} END"
            )
            member = "d.is_new OR d.first_row IS NULL" if s.strategy == "create" else "d.is_new"
            repeat = "false"
        inactive = ", ".join(_quote(v) for v in INACTIVE_STATUSES)
        olds = ", ".join(f"cur.{n} AS old_{n}" for n in STANDARD_FIELDS)
        news = ", ".join(f"{expr} AS {name}" for name, expr in values.items())
        inner = (
            "SELECT s.row_number, COALESCE(cur.id, s.id) AS contact_id, s.event_id, s.email, "
            "s.email_normalized, s.tags_norm, cur.id IS NULL AS is_new, "
            "COALESCE(s.batch_first, cur.earlier) AS first_row, "
            f"{olds}, {news}"
            + (f", {custom_olds}, {custom_news}" if customs else "")
            + " FROM import_stage s LEFT JOIN import_current cur "
            "ON cur.email_normalized = s.email_normalized WHERE s.round = :round OFFSET 0"
        )
        # The changed flag is computed once (d2), the kind and the journal from it.
        return (
            "INSERT INTO import_match (row_number, contact_id, event_id, email, email_normalized, "
            "is_new, kind, repeat, member, unsubscribed_match, changed, "
            + ", ".join(STANDARD_FIELDS)
            + ", custom_fields, tags_norm, previous, next) "
            "SELECT d.row_number, d.contact_id, d.event_id, d.email, d.email_normalized, d.is_new, "
            f"{kind}, {repeat}, {member}, "
            f"NOT d.is_new AND d.first_row IS NULL AND d.old_{_STATUS} IN ({inactive}), "
            "d.changed, "
            + ", ".join(f"d.{n}" for n in STANDARD_FIELDS)
            + f", d.custom_fields, d.tags_norm, {previous}, {following} "  # nosec B608 # our own table, column and custom field names (keys are [a-z0-9_]); values bound
            # OFFSET 0 keeps each layer a layer: pulled up, every reference to a value would
            # evaluate its expression again (the journal's snapshots refer to each one twice)
            f"FROM (SELECT d.*, NOT d.is_new AND ({any_changed}) AS changed "
            f"FROM (SELECT d.*, {flags} FROM ({inner}) d OFFSET 0) d OFFSET 0) d"
        )

    def _rule(self, cur: str, new: str, rule: str, text_like: bool, json: bool = False) -> str:
        """A field's value after a row, for a contact that exists (`apply_row`'s rules)."""
        blank_clears = self.settings.blank_clears
        if rule == "never":
            return cur
        if rule == "fill_empty":
            empty = f"{cur} IS NULL"
            if json:
                empty += f" OR {cur} = '\"\"'::jsonb"
            elif text_like:
                empty += f" OR {cur} = ''"
            blank = "NULL" if blank_clears else cur
            return (
                f"CASE WHEN NOT ({empty}) THEN {cur} WHEN {new} IS NULL THEN {blank} ELSE {new} END"
            )
        return new if blank_clears else f"COALESCE({new}, {cur})"

    def _status_sql(self, mapped: bool) -> str:
        s = self.settings
        incoming = (
            f"'{UNSUBSCRIBED}'" if s.suppression_list else (f"s.{_STATUS}" if mapped else None)
        )
        created = (
            f"COALESCE({incoming}, {_quote(s.new_contact_status)})"
            if incoming
            else _quote(s.new_contact_status)
        )
        cur = f"cur.{_STATUS}"
        if s.strategy == "update":
            ruled_out = s.field_rules.get(_STATUS) in ("never", "fill_empty")
            if incoming is None or (ruled_out and not s.suppression_list):
                existing = cur
            else:
                inactive = ", ".join(_quote(v) for v in INACTIVE_STATUSES)
                existing = (
                    f"CASE WHEN {incoming} IS NULL THEN {cur} WHEN {cur} IN ({inactive}) "
                    f"AND {incoming} <> '{UNSUBSCRIBED}' THEN {cur} ELSE {incoming} END"
                )
        elif s.suppression_list:
            first = "COALESCE(s.batch_first, cur.earlier)"
            existing = f"CASE WHEN {first} IS NULL THEN '{UNSUBSCRIBED}' ELSE {cur} END"
        else:
            existing = cur
        return f"CASE WHEN cur.id IS NULL THEN {created} ELSE {existing} END"

    @staticmethod
    def _snapshot(
        changed: list[tuple[str, str]], custom_changed: list[tuple[str, str]], prefix: str
    ) -> str:
        """The journal's values of the changed fields (`batch_write._field_snapshot`).

        Written as JSON text and parsed once: `jsonb_build_object` looks up each argument's
        type on every call, which made the two snapshots half the cost of deciding a batch.
        """

        def member(key: str, flag: str, value: str) -> str:
            name = _quote(json.dumps(key) + ":")
            return f"CASE WHEN {flag} THEN {name} || COALESCE(to_json({value})::text, 'null') END"

        texts = [member(name, flag, f"{prefix}{name}") for name, flag in changed]
        if custom_changed:
            custom = ", ".join(
                member(key, flag, f"{prefix}c{i}") for i, (key, flag) in enumerate(custom_changed)
            )
            any_custom = " OR ".join(flag for _, flag in custom_changed)
            texts.append(
                f"CASE WHEN {any_custom} THEN '\"custom\":{{' || concat_ws(',', {custom}) || '}}' END"
            )
        if not texts:
            return "'{}'::jsonb"
        return (
            f"CASE WHEN d.changed THEN ('{{' || concat_ws(',', {', '.join(texts)}) || '}}')::jsonb "
            "ELSE '{}'::jsonb END"
        )

    # -- links and journal -------------------------------------------------------------------

    def _links_sql(self) -> str:
        s = self.settings
        replace = s.strategy == "update" and s.tags_mode == "replace" and s.tags_mapped
        removed = (
            "removed AS (DELETE FROM contact_tags ct USING import_match m "
            "WHERE m.member AND NOT m.is_new AND ct.contact_id = m.contact_id "
            "AND NOT EXISTS (SELECT 1 FROM want w WHERE w.contact_id = ct.contact_id "
            "AND w.tag_id = ct.tag_id) RETURNING ct.contact_id, ct.tag_id), "
            if replace
            else "removed AS (SELECT NULL::uuid AS contact_id, NULL::uuid AS tag_id WHERE false), "
        )
        # The contacts this batch created have no links yet, and no other transaction sees
        # them: their links go in with a plain INSERT (ON CONFLICT's speculative insertion and
        # RETURNING cost 1.3 µs a row more). Only the others' new links are journaled.
        segment = (
            "seg_new AS (INSERT INTO segment_contacts (segment_id, contact_id) "
            "SELECT CAST(:segment AS uuid), contact_id FROM import_match WHERE member AND is_new), "
            "seg AS (INSERT INTO segment_contacts (segment_id, contact_id) "
            "SELECT CAST(:segment AS uuid), contact_id FROM import_match "
            "WHERE member AND NOT is_new ON CONFLICT DO NOTHING RETURNING contact_id) "
            if s.segment_id is not None
            else "seg AS (SELECT NULL::uuid AS contact_id WHERE false) "
        )
        event_type = (
            "CASE WHEN m.changed THEN 'updated' ELSE "
            + ("'unchanged'" if s.strategy == "update" else "'skipped'")
            + " END"
        )
        return (
            "WITH tag_map AS (SELECT * FROM unnest(CAST(:tag_keys AS text[]), "  # nosec B608 # our own table, column and custom field names (keys are [a-z0-9_]); values bound
            "CAST(:tag_ids AS uuid[])) AS t(norm, id)), "
            "want AS (SELECT m.contact_id, t.id AS tag_id, m.is_new FROM import_match m "
            "CROSS JOIN LATERAL unnest(m.tags_norm) AS n(norm) JOIN tag_map t ON t.norm = n.norm "
            "WHERE m.member UNION SELECT m.contact_id, o.id, m.is_new FROM import_match m "
            "CROSS JOIN unnest(CAST(:option_tags AS uuid[])) AS o(id) WHERE m.member), "
            "linked_new AS (INSERT INTO contact_tags (contact_id, tag_id) "
            "SELECT contact_id, tag_id FROM want WHERE is_new), "
            "added AS (INSERT INTO contact_tags (contact_id, tag_id) "
            "SELECT contact_id, tag_id FROM want WHERE NOT is_new ON CONFLICT DO NOTHING "
            "RETURNING contact_id, tag_id), "
            + removed
            + segment
            # grouped once and joined by hash: a subquery per contact would scan the CTE each time
            + ", added_by AS (SELECT contact_id, jsonb_agg(tag_id::text ORDER BY tag_id) AS tags "  # nosec B608 # our own table, column and custom field names (keys are [a-z0-9_]); values bound
            "FROM added GROUP BY contact_id), "
            "removed_by AS (SELECT contact_id, jsonb_agg(tag_id::text ORDER BY tag_id) AS tags "
            "FROM removed GROUP BY contact_id) "
            "INSERT INTO import_events (id, import_job_id, contact_id, event_type, previous_data, "
            "new_data, created_at, row_number) "
            f"SELECT m.event_id, CAST(:job AS uuid), m.contact_id, {event_type}, m.previous, "
            "m.next || jsonb_strip_nulls(jsonb_build_object('tags_added', a.tags, "
            "'tags_removed', r.tags, 'segments_added', CASE WHEN g.contact_id IS NOT NULL "
            "THEN jsonb_build_array(CAST(:segment_text AS text)) END)), "
            "CAST(:now AS timestamptz), m.row_number FROM import_match m "
            "LEFT JOIN added_by a ON a.contact_id = m.contact_id "
            "LEFT JOIN removed_by r ON r.contact_id = m.contact_id "
            "LEFT JOIN seg g ON g.contact_id = m.contact_id "
            "WHERE NOT m.is_new AND (m.changed OR a.tags IS NOT NULL OR r.tags IS NOT NULL "
            "OR g.contact_id IS NOT NULL)"
        )

    # -- one batch ---------------------------------------------------------------------------

    def write(
        self, conn: Connection, staged: StagedRows, now: datetime | None = None
    ) -> BatchOutcome:
        """Write one batch in the caller's transaction; the counts and the tags it created."""
        now = now or utcnow()
        s = self.settings
        raw = driver_connection(conn)
        with raw.cursor() as cur:  # one round trip: no parameters, several statements
            cur.execute("; ".join([*_CREATE_TABLES, "DELETE FROM import_stage"]))
            with cur.copy(f"COPY import_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
                copy.write(staged.data)
        tag_ids, created_tags = ensure_tags(conn, s.tenant_id, [*s.option_tags, *staged.tag_names])
        option_ids = sorted({tag_ids[tag_key(n)] for n in s.option_tags if n.strip()})
        outcome = BatchOutcome(created_tag_ids=created_tags)
        params: dict[str, Any] = {
            "tenant": s.tenant_id,
            "workspace": s.workspace_id,
            "job": s.job_id,
            "now": now,
            "tag_keys": list(tag_ids),
            "tag_ids": list(tag_ids.values()),
            "option_tags": option_ids,
            "segment": s.segment_id,
            "segment_text": str(s.segment_id) if s.segment_id else None,
        }
        for round_ in range(1, staged.rounds + 1):
            params["round"] = round_
            if round_ > 1:
                conn.exec_driver_sql("DELETE FROM import_current")
                conn.exec_driver_sql("DELETE FROM import_match")
            with own_plan(conn):
                conn.execute(_CURRENT, params)
            conn.execute(self._match, params)
            counts = conn.execute(_COUNTS).one()  # the decisions, before anything is written
            # A contact another import created since the lookup breaks the unique key
            # (tenant, email): the batch is retried and planned again (`commit_batch`). A plain
            # INSERT costs 1 µs a row less than ON CONFLICT's speculative insertion.
            if counts.created:
                conn.execute(_INSERT, params)
            conn.execute(self._update, params)
            conn.execute(self._links, params)
            outcome.add(counts)
        return outcome


_INSERT = text(
    "INSERT INTO contacts (id, tenant_id, workspace_id, email, email_normalized, "  # nosec B608 # our own table, column and custom field names (keys are [a-z0-9_]); values bound
    + ", ".join(STANDARD_FIELDS)
    + ", custom_fields, emails_opened, emails_clicked, created_at, updated_at, "  # nosec B608 # our own table, column and custom field names (keys are [a-z0-9_]); values bound
    "created_by_import_id, created_from_row) "
    "SELECT contact_id, CAST(:tenant AS uuid), CAST(:workspace AS uuid), email, email_normalized, "
    + ", ".join(STANDARD_FIELDS)
    + ", custom_fields, 0, 0, CAST(:now AS timestamptz), CAST(:now AS timestamptz), "
    "CAST(:job AS uuid), row_number FROM import_match WHERE is_new "
    "ORDER BY contact_id"
)

_COUNTS = text(
    "SELECT count(*) FILTER (WHERE is_new) AS created, "
    "count(*) FILTER (WHERE kind = 'updated' AND NOT repeat) AS updated, "
    "count(*) FILTER (WHERE kind = 'unchanged' AND NOT repeat) AS unchanged, "
    "count(*) FILTER (WHERE kind IN ('skipped', 'matched', 'duplicate')) AS skipped, "
    "count(*) FILTER (WHERE repeat) AS repeated, "
    "count(*) FILTER (WHERE unsubscribed_match) AS unsubscribed "
    "FROM import_match"
)


@dataclass
class RowCounts:
    """How many rows did what: one batch's, or (`batch_commit.Progress`) the import's so far."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    repeated: int = 0
    unsubscribed: int = 0

    def add(self, counts: Any) -> None:
        """Add another count of the same names (a `RowCounts`, or a row of `_COUNTS`)."""
        for name in _COUNTED:
            setattr(self, name, getattr(self, name) + getattr(counts, name))


@dataclass
class BatchOutcome(RowCounts):
    """What a batch did: the counts of `BatchPlan` and the tags it created."""

    created_tag_ids: list[uuid.UUID] = field(default_factory=list)

    def add_plan(self, plan: BatchPlan) -> None:
        """Add the counts of a round planned in Python (SQLite)."""
        for name in _COUNTED[:-1]:
            setattr(self, name, getattr(self, name) + plan.counts[name])
        self.unsubscribed += plan.unsubscribed_matches


_COUNTED = ("created", "updated", "unchanged", "skipped", "repeated", "unsubscribed")
