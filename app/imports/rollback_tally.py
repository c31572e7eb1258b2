"""A rollback's running totals and the contacts it keeps, stored on the job to resume from.

The batches add to a `RollbackTally`; the job's `rollback_result` column stores it (`to_stored`)
in snake_case (migration 0022 renamed the camelCase keys earlier versions stored): while the
rollback runs its counts and each slice's position, once it ended its counts and the first
contacts it kept, after a failure also why it stopped. The history pages and the API read it
back with `RollbackTally.of(job)` and render its attributes; the CLI and the RQ task give it the
camelCase names it always had (`rollback_fields`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, text

from app.imports.camel_case import camel_keys
from app.models import ImportJob

KEPT_LISTED = 1000
COUNTS = ("deleted", "restored", "unlinked", "kept", "gone")
"""A rollback's counts, the first fields of `RollbackTally`."""


@dataclass(frozen=True)
class Part:
    """One of the slices a rollback runs on its own connection: the contacts whose id's last
    byte, modulo `of`, is `number`. Each contact's journal rows and its deletion fall in one
    slice, so slices never touch the same contact and a contact's rows keep their order."""

    number: int = 0
    of: int = 1

    @property
    def key(self) -> str:
        """How the slice's position is stored on the job: "0/2"."""
        return f"{self.number}/{self.of}"

    @classmethod
    def from_key(cls, key: str) -> Part:
        number, of = key.split("/")
        return cls(int(number), int(of))

    def holds(self, contact_id: Any) -> ColumnElement[bool] | None:
        """The SQL condition for a contact id column (None: the whole rollback is one slice).

        The last byte of an id is random both in the ids this app makes (UUID v7) and in v4.
        """
        if self.of == 1:
            return None
        return func.get_byte(func.uuid_send(contact_id), 15).op("%")(self.of) == self.number

    def has(self, contact_id: uuid.UUID) -> bool:
        """`holds`, in Python."""
        return contact_id.bytes[15] % self.of == self.number


WHOLE = Part()
"""A rollback on one connection."""


@dataclass(frozen=True)
class RollbackStep:
    """What each batch of a rollback's slice is given: the import, whether contacts changed
    since are overwritten (force), how many journal rows or contacts a batch reads for each
    slice, and the slice."""

    job_id: uuid.UUID
    force: bool
    limit: int
    part: Part = WHOLE


@dataclass(frozen=True)
class KeptContact:
    """A contact the rollback left as it was (changed since the import), and why."""

    contact_id: str
    email: str
    reason: str


@dataclass(frozen=True)
class SlicePosition:
    """Where a slice stopped: before a journal row ([row, event id], `revert_batch`), then
    after a contact id (`delete_created`)."""

    journal_before: list[Any] | None = None
    created_after: str | None = None

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> SlicePosition:
        """Read what `asdict` stored."""
        return cls(data.get("journal_before"), data.get("created_after"))


@dataclass
class RollbackTally:
    """Running totals of a rollback, and once it ended or failed its result."""

    deleted: int = 0
    restored: int = 0
    unlinked: int = 0
    kept: int = 0
    gone: int = 0
    kept_contacts: list[KeptContact] = field(default_factory=list)
    journal_before: list[Any] | None = None  # [row, event id]: where `revert_batch` is
    created_after: str | None = None  # the id order position of `delete_created`
    # while it runs, each slice's position, by `Part.key`
    positions: dict[str, SlicePosition] = field(default_factory=dict)
    error: str | None = None  # why it stopped (started again, it goes on from its positions)

    def position(self) -> SlicePosition:
        """Where this (batch's) tally stopped, as stored for its slice."""
        return SlicePosition(self.journal_before, self.created_after)

    def resume(self, part: Part) -> RollbackTally:
        """An empty tally for a slice's next batch, starting where the slice stopped."""
        at = self.positions.get(part.key, SlicePosition())
        return RollbackTally(journal_before=at.journal_before, created_after=at.created_after)

    def parts(self, default: int) -> list[Part]:
        """The slices of this rollback: as many as when it started, else `default`."""
        of = Part.from_key(next(iter(self.positions))).of if self.positions else default
        return [Part(number, of) for number in range(of)]

    def add(self, batch: RollbackTally, part: Part) -> None:
        """Count a slice's batch in, and move the slice's position to where the batch ended."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(batch, name))
        room = max(KEPT_LISTED - len(self.kept_contacts), 0)
        self.kept_contacts += batch.kept_contacts[:room]
        self.positions[part.key] = batch.position()

    def to_stored(self) -> dict[str, Any]:
        """The JSON-ready dict stored on the job (`positions` only while the rollback runs,
        `error` only after it failed)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in COUNTS}
        data["kept_contacts"] = [asdict(contact) for contact in self.kept_contacts]
        if self.positions:
            data["positions"] = {key: asdict(at) for key, at in self.positions.items()}
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> RollbackTally | None:
        """Read what `to_stored` stored (None: nothing stored), to show or to resume from."""
        if data is None:
            return None
        positions = {
            key: SlicePosition.from_stored(at) for key, at in (data.get("positions") or {}).items()
        }
        if not positions and (data.get("journal_before") or data.get("created_after")):
            # stored by a rollback that ran on one connection, before the slices
            positions = {WHOLE.key: SlicePosition.from_stored(data)}
        counts: dict[str, Any] = {name: int(data.get(name) or 0) for name in COUNTS}
        return cls(
            **counts,
            kept_contacts=[
                KeptContact(str(c.get("contact_id")), str(c.get("email")), str(c.get("reason")))
                for c in data.get("kept_contacts") or []
            ],
            positions=positions,
            error=data.get("error"),
        )

    @classmethod
    def of(cls, job: ImportJob) -> RollbackTally | None:
        """The rollback stored on the job; None before one has counted anything or failed."""
        return cls.from_stored(job.rollback_result)


def rollback_fields(tally: RollbackTally | None) -> dict[str, Any]:
    """A rollback as the CLI prints it and its RQ task returns it, as they always have: the
    stored fields in camelCase, and so are those of each kept contact and slice position (a
    slice's key, "0/2", is data and stays as it is); none while nothing is stored."""
    if tally is None:
        return {}
    shown = camel_keys(tally.to_stored())
    shown["keptContacts"] = [camel_keys(contact) for contact in shown["keptContacts"]]
    if "positions" in shown:
        shown["positions"] = {key: camel_keys(at) for key, at in shown["positions"].items()}
    return shown


def keep(tally: RollbackTally, state: dict[str, Any], reason: str) -> None:
    """Count a contact the rollback leaves as it is, listing the first KEPT_LISTED."""
    tally.kept += 1
    if len(tally.kept_contacts) < KEPT_LISTED:
        tally.kept_contacts.append(KeptContact(str(state["id"]), state["email"], reason))


def keep_many(conn: Connection, tally: RollbackTally, count: int, listing: str) -> None:
    """Count `count` kept contacts, listing the first ones (`listing` selects id and email)."""
    if not count:
        return
    room = max(KEPT_LISTED - len(tally.kept_contacts), 0)
    count_kept(tally, count, [(r.id, r.email) for r in conn.execute(text(listing), {"room": room})])


def count_kept(tally: RollbackTally, count: int, listed: list[tuple[Any, str]]) -> None:
    """Count `count` kept contacts, listing the first of `listed` (id, email) there is room for."""
    listed = listed[: max(KEPT_LISTED - len(tally.kept_contacts), 0)]
    for contact_id, email in listed:
        keep(tally, {"id": contact_id, "email": email}, "changed since the import, kept")
    tally.kept += count - len(listed)
