"""A rollback's running totals and the contacts it keeps, stored on the job to resume from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, text

KEPT_LISTED = 1000


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


@dataclass
class RollbackTally:
    """Running totals of a rollback."""

    deleted: int = 0
    restored: int = 0
    unlinked: int = 0
    kept: int = 0
    gone: int = 0
    kept_contacts: list[dict[str, str]] = field(default_factory=list)
    journal_before: list[Any] | None = None  # [row, event id]: where `revert_batch` is
    created_after: str | None = None  # the id order position of `delete_created`
    # while it runs, each slice's `journalBefore` and `createdAfter`, by `Part.key`
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def position(self) -> dict[str, Any]:
        """Where this (batch's) tally stopped, as stored for its slice."""
        return {"journalBefore": self.journal_before, "createdAfter": self.created_after}

    def resume(self, part: Part) -> RollbackTally:
        """An empty tally for a slice's next batch, starting where the slice stopped."""
        at = self.positions.get(part.key, {})
        return RollbackTally(
            journal_before=at.get("journalBefore"), created_after=at.get("createdAfter")
        )

    def parts(self, default: int) -> list[Part]:
        """The slices of this rollback: as many as when it started, else `default`."""
        of = Part.from_key(next(iter(self.positions))).of if self.positions else default
        return [Part(number, of) for number in range(of)]

    def add(self, batch: RollbackTally, part: Part) -> None:
        """Count a slice's batch in, and move the slice's position to where the batch ended."""
        self.deleted += batch.deleted
        self.restored += batch.restored
        self.unlinked += batch.unlinked
        self.kept += batch.kept
        self.gone += batch.gone
        room = max(KEPT_LISTED - len(self.kept_contacts), 0)
        self.kept_contacts += batch.kept_contacts[:room]
        self.positions[part.key] = batch.position()

    def as_dict(self) -> dict[str, Any]:
        """JSON shape stored on the job (`positions` only while the rollback runs)."""
        data: dict[str, Any] = {
            "deleted": self.deleted,
            "restored": self.restored,
            "unlinked": self.unlinked,
            "kept": self.kept,
            "gone": self.gone,
            "keptContacts": self.kept_contacts,
        }
        if self.positions:
            data["positions"] = self.positions
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RollbackTally:
        """Resume from what an earlier (killed) run stored."""
        data = data or {}
        positions = dict(data.get("positions") or {})
        if not positions and (data.get("journalBefore") or data.get("createdAfter")):
            # stored by a rollback that ran on one connection, before the slices
            positions = {Part().key: {k: data.get(k) for k in ("journalBefore", "createdAfter")}}
        return cls(
            deleted=data.get("deleted", 0),
            restored=data.get("restored", 0),
            unlinked=data.get("unlinked", 0),
            kept=data.get("kept", 0),
            gone=data.get("gone", 0),
            kept_contacts=list(data.get("keptContacts", [])),
            positions=positions,
        )


def keep(tally: RollbackTally, state: dict[str, Any], reason: str) -> None:
    """Count a contact the rollback leaves as it is, listing the first KEPT_LISTED."""
    tally.kept += 1
    if len(tally.kept_contacts) < KEPT_LISTED:
        tally.kept_contacts.append(
            {"contactId": str(state["id"]), "email": state["email"], "reason": reason}
        )


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
