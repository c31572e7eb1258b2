"""A rollback's running totals and the contacts it keeps, stored on the job to resume from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

KEPT_LISTED = 1000


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

    def as_dict(self) -> dict[str, Any]:
        """JSON shape stored on the job (where it is, `journalBefore` and `createdAfter`, only
        while the rollback runs)."""
        data: dict[str, Any] = {
            "deleted": self.deleted,
            "restored": self.restored,
            "unlinked": self.unlinked,
            "kept": self.kept,
            "gone": self.gone,
            "keptContacts": self.kept_contacts,
        }
        if self.journal_before:
            data["journalBefore"] = self.journal_before
        if self.created_after:
            data["createdAfter"] = self.created_after
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RollbackTally:
        """Resume from what an earlier (killed) run stored."""
        data = data or {}
        return cls(
            deleted=data.get("deleted", 0),
            restored=data.get("restored", 0),
            unlinked=data.get("unlinked", 0),
            kept=data.get("kept", 0),
            gone=data.get("gone", 0),
            kept_contacts=list(data.get("keptContacts", [])),
            journal_before=data.get("journalBefore"),
            created_after=data.get("createdAfter"),
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
    listed = conn.execute(text(listing), {"room": room}).all()
    for row in listed:
        keep(tally, {"id": row.id, "email": row.email}, "changed since the import, kept")
    tally.kept += count - len(listed)
