"""Duplicate handling: plan what each row of a batch does to which contact.

`plan_batch` decides, over plain values, what every row does (the exact rules of `skip`,
`update` and `create`, the field rules, consent, repeated emails live here). The batch's
lookups are in `batch_lookups`, the writes that apply a plan in `batch_write`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from app.imports.consent import INACTIVE_STATUSES, NON_SUBSCRIBED, UNSUBSCRIBED, next_status
from app.imports.validation import CleanRow
from app.models import Contact
from app.models.types import new_id

STANDARD_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "phone",
    "consented_on",
    "unsubscribed_on",
    "subscription_status",
)
"""The contact columns an import writes, journals and a rollback restores."""
_DATE_FIELDS = ("consented_on", "unsubscribed_on")  # ISO strings in a state, dates in the table
_STATUS = "subscription_status"
CONTACT_COLUMNS = (
    Contact.id,
    Contact.email,
    Contact.email_normalized,
    Contact.first_name,
    Contact.last_name,
    Contact.company,
    Contact.phone,
    Contact.consented_on,
    Contact.unsubscribed_on,
    Contact.custom_fields,
    Contact.subscription_status,
    Contact.created_by_import_id,
    Contact.created_from_row,
)


class ConcurrentInsert(Exception):
    """Another import created one of this batch's contacts first: plan the batch again."""


@dataclass(frozen=True)
class ImportSettings:
    """The parts of the options the writer needs, with ids resolved."""

    tenant_id: uuid.UUID
    workspace_id: uuid.UUID | None
    job_id: uuid.UUID
    strategy: str
    blank_clears: bool = False
    field_rules: dict[str, str] = field(default_factory=dict)
    tags_mode: str = "add"
    tags_mapped: bool = False
    option_tags: tuple[str, ...] = ()
    segment_id: uuid.UUID | None = None
    new_contact_status: str = NON_SUBSCRIBED
    suppression_list: bool = False


@dataclass
class ContactChange:
    """What this batch does to one contact."""

    contact_id: uuid.UUID
    kind: str  # created | updated | unchanged | matched | skipped
    first_row: int
    last_row: int
    state: dict[str, Any]
    before: dict[str, Any] | None = None
    changed: set[str] = field(default_factory=set)
    tag_names: list[str] = field(default_factory=list)
    membership: bool = True  # gets the import's tags and segment
    repeat_only: bool = False  # only later rows of an email an earlier batch had touch it

    def __post_init__(self) -> None:
        # The row at which this batch first touched the contact: it orders the journal, while
        # `first_row` is the file's first row with this email (for "duplicate of row N").
        self.journal_row = self.last_row

    @property
    def is_new(self) -> bool:
        """True when the batch creates this contact."""
        return self.kind == "created"


@dataclass
class BatchPlan:
    """The decisions for one batch, and the counts they produce."""

    changes: list[ContactChange] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    unsubscribed_matches: int = 0
    skipped_duplicates: list[tuple[int, int]] = field(default_factory=list)  # (row, first row)
    repeats: list[tuple[int, int]] = field(default_factory=list)  # (row, first row), first few
    status_changes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (from, to)


def contact_state(row: Any) -> dict[str, Any]:
    """A contact row as a plain dict of the fields an import can change."""
    state = {name: getattr(row, name) for name in ("id", "email", "email_normalized")}
    for name in STANDARD_FIELDS:
        state[name] = getattr(row, name)
    for name in _DATE_FIELDS:
        if state[name] is not None:
            state[name] = state[name].isoformat()
    state["custom_fields"] = dict(row.custom_fields or {})
    state["created_by_import_id"] = row.created_by_import_id
    state["created_from_row"] = row.created_from_row
    return state


def stored_fields(state: dict[str, Any]) -> dict[str, Any]:
    """A state's standard fields as the table takes them (dates as dates)."""
    values = {name: state[name] for name in STANDARD_FIELDS}
    for name in _DATE_FIELDS:
        if isinstance(values[name], str):
            values[name] = date.fromisoformat(values[name])
    return values


def _incoming_status(row: CleanRow, settings: ImportSettings) -> str | None:
    """The status a row asks for: every row of a suppression list asks for unsubscribed."""
    return UNSUBSCRIBED if settings.suppression_list else row.fields.get(_STATUS)


def _field_value(state: dict[str, Any], name: str) -> Any:
    if name.startswith("custom:"):
        return state["custom_fields"].get(name[7:])
    return state[name]


def _set_field(state: dict[str, Any], name: str, value: Any) -> None:
    if name.startswith("custom:"):
        if value is None:
            state["custom_fields"].pop(name[7:], None)
        else:
            state["custom_fields"][name[7:]] = value
    else:
        state[name] = value


@cache
def _custom_name(key: str) -> str:
    return f"custom:{key}"


def _row_values(row: CleanRow) -> list[tuple[str, Any]]:
    values: list[tuple[str, Any]] = list(row.fields.items())
    if row.custom:
        values.extend((_custom_name(k), v) for k, v in row.custom.items())
    return values


def apply_row(change: ContactChange, row: CleanRow, settings: ImportSettings) -> bool:
    """Apply one row's values to a contact's state by the field rules; True when anything changed."""
    changed = False
    creating = change.is_new
    for name, value in _row_values(row):
        if name == _STATUS:
            continue
        blank = value is None or value == ""
        rule = settings.field_rules.get(name, "overwrite")
        current = _field_value(change.state, name)
        if not creating and rule == "never":
            continue
        if blank:
            if not settings.blank_clears or current is None or creating:
                continue
            new = None
        else:
            new = value
        if not creating and rule == "fill_empty" and current not in (None, ""):
            continue
        if new != current:
            _set_field(change.state, name, new)
            change.changed.add(name)
            changed = True
    incoming = _incoming_status(row, settings)
    # a status is never empty, so "fill only if empty" keeps it like "never"; a suppression
    # list unsubscribes whatever the rules say
    ruled_out = settings.field_rules.get(_STATUS) in ("never", "fill_empty")
    if incoming and (creating or settings.suppression_list or not ruled_out):
        status = next_status(change.state[_STATUS], incoming)
        if status != change.state[_STATUS]:
            change.state[_STATUS] = status
            change.changed.add(_STATUS)
            changed = True
    change.tag_names.extend(row.tags)
    change.last_row = row.row
    return changed


def _suppress(change: ContactChange) -> bool:
    """Unsubscribe a matched contact (suppression list); True when its status changed."""
    if change.state[_STATUS] == UNSUBSCRIBED:
        return False
    change.state[_STATUS] = UNSUBSCRIBED
    change.changed.add(_STATUS)
    return True


def _new_state(row: CleanRow, settings: ImportSettings) -> dict[str, Any]:
    state: dict[str, Any] = {
        "id": new_id(),
        "email": row.email,
        "email_normalized": row.email_normalized,
        "custom_fields": {},
    }
    for name in STANDARD_FIELDS:
        value = row.fields.get(name)
        state[name] = value if value not in ("", None) else None
    state[_STATUS] = _incoming_status(row, settings) or settings.new_contact_status
    for key, custom in row.custom.items():
        if custom is not None and custom != "":
            state["custom_fields"][key] = custom
    return state


def batch_rounds(rows: list[CleanRow]) -> list[tuple[list[CleanRow], dict[str, int]]]:
    """Split a batch so that no email appears twice in a part: the second row with an email goes
    to the second part, and so on. With each part from the second on, the batch's first row of
    each of its emails (plan_batch's `seen_in_run`): a repeated email meets the contact as the
    earlier row left it, as it does when the rows fall in different batches.
    """
    first: dict[str, int] = {}
    seen: dict[str, int] = {}
    rounds: list[list[CleanRow]] = []
    for row in rows:
        key = row.email_normalized
        n = seen.get(key, 0)
        seen[key] = n + 1
        first.setdefault(key, row.row)
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(row)
    return [
        (part, {r.email_normalized: first[r.email_normalized] for r in part} if i else {})
        for i, part in enumerate(rounds)
    ]


REPEATS_KEPT = 5
"""Examples of repeated emails a plan keeps for the sentence that explains them."""


def _repeat(plan: BatchPlan, row: int, first_row: int) -> None:
    """A row whose email an earlier row of the file had: counted apart, the later row wins."""
    plan.counts["repeated"] += 1
    if len(plan.repeats) < REPEATS_KEPT:
        plan.repeats.append((row, first_row))


def plan_batch(
    rows: list[CleanRow],
    existing: dict[str, dict[str, Any]],
    earlier_rows: dict[uuid.UUID, int],
    settings: ImportSettings,
    seen_in_run: dict[str, int] | None = None,
) -> BatchPlan:
    """Decide what every row does.

    `existing` maps normalized emails to the tenant's contacts; `earlier_rows` maps contact ids to
    the first row of this import that already touched them (earlier batches, from the journal);
    `seen_in_run` does the same by email for a dry run, which writes nothing.
    """
    plan = BatchPlan()
    by_email: dict[str, ContactChange] = {}
    strategy = settings.strategy
    for row in rows:
        key = row.email_normalized
        change = by_email.get(key)
        first_row = change.first_row if change is not None else None
        if change is None:
            current = existing.get(key)
            if current is not None:
                first_row = earlier_rows.get(current["id"])
            if first_row is None and seen_in_run is not None:
                first_row = seen_in_run.get(key)  # a dry run writes no journal to ask
        if first_row is not None:  # the email appeared earlier in this file
            if strategy == "update" and change is not None and change.kind != "skipped":
                if apply_row(change, row, settings) and change.kind == "unchanged":
                    change.kind = "updated"  # the later row wins: its values are written
                _repeat(plan, row.row, first_row)
                continue
            if strategy == "update" and change is None and key in existing:
                current = existing[key]
                change = ContactChange(
                    current["id"],
                    "unchanged",
                    first_row,
                    row.row,
                    state={**current, "custom_fields": dict(current["custom_fields"])},
                    before=current,
                    repeat_only=True,
                )
                by_email[key] = change
                plan.changes.append(change)
                if apply_row(change, row, settings):
                    change.kind = "updated"
                _repeat(plan, row.row, first_row)
                continue
            if strategy == "update":  # dry run: the earlier row would have created it
                _repeat(plan, row.row, first_row)
                continue
            plan.counts["skipped"] += 1
            plan.skipped_duplicates.append((row.row, first_row))
            if change is None:
                by_email[key] = ContactChange(
                    existing[key]["id"] if key in existing else new_id(),
                    "skipped",
                    first_row,
                    row.row,
                    state={},
                    membership=False,
                )
            continue

        current = existing.get(key)
        if current is None:
            state = _new_state(row, settings)
            change = ContactChange(state["id"], "created", row.row, row.row, state=state)
            change.tag_names.extend(row.tags)
            by_email[key] = change
            plan.changes.append(change)
            plan.counts["created"] += 1
            continue

        if current["subscription_status"] in INACTIVE_STATUSES:
            plan.unsubscribed_matches += 1
        change = ContactChange(
            current["id"],
            "matched",
            row.row,
            row.row,
            state={**current, "custom_fields": dict(current["custom_fields"])},
            before=current,
        )
        by_email[key] = change
        if strategy in ("skip", "create"):
            if strategy == "skip":
                change.kind, change.membership = "skipped", False
            else:
                change.tag_names.extend(row.tags)
            if settings.suppression_list and _suppress(change):
                change.kind = "updated"  # a suppression list unsubscribes whatever the strategy
                plan.changes.append(change)
                plan.counts["updated"] += 1
                continue
            if strategy == "create":
                plan.changes.append(change)
            plan.counts["skipped"] += 1
            continue
        plan.changes.append(change)
        if apply_row(change, row, settings):
            change.kind = "updated"
            plan.counts["updated"] += 1
        else:
            change.kind = "unchanged"
            plan.counts["unchanged"] += 1
    for change in plan.changes:
        if change.repeat_only:
            continue  # its status change, if any, was counted with the email's first row
        if change.is_new:
            plan.status_changes[("new", change.state[_STATUS])] += 1
        elif _STATUS in change.changed and change.before is not None:
            plan.status_changes[(change.before[_STATUS], change.state[_STATUS])] += 1
    return plan
