"""A tenant's mapping suggestions for a file: the wizard, the API and the command line ask here.

`mapping.suggest_mapping` knows nothing of tenants; this reads what it needs of one tenant (its
custom fields and the mappings of its last imports) so every caller suggests the same thing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select

from app.extensions import db
from app.imports.mapping import Suggestion, suggest_mapping
from app.imports.parsing import SourceRow
from app.imports.service import remembered_mapping
from app.models import CustomField

SUGGESTION_REASONS: dict[str, str] = {
    "remembered": "mapped the same way in one of the tenant's last imports",
    "exact": "the header is a field's key or name",
    "alias": "a known spelling of a field (an export's own column name or another language's)",
    "common": "a common column (job title, city...): an existing or a new custom field",
    "values": "the column's first values are email addresses or phone numbers",
    "fuzzy": "the header looks like a field's name (a typo or another word order)",
    "empty": "the column is empty in the first rows: nothing to import",
    "none": "nothing fits, or another column fits this field better",
}
"""Every `Suggestion.reason`, with what it means (the API documents them from here)."""


def custom_field_labels(tenant_id: uuid.UUID) -> dict[str, str]:
    """The tenant's custom fields as key -> label, by label."""
    rows = db.session.execute(
        select(CustomField.key, CustomField.label)
        .where(CustomField.tenant_id == tenant_id)
        .order_by(CustomField.label)
    )
    return {key: label for key, label in rows}


def suggestions_for(
    tenant_id: uuid.UUID,
    headers: Sequence[str],
    rows: Iterable[SourceRow],
    leave_out: str = "Don't import",
) -> list[Suggestion]:
    """A suggestion for each header, in header order, from the tenant's custom fields, its last
    mappings and the file's first rows (a row the reader could not read is left out).

    `leave_out` is how the reader leaves a column out: the wizard's "Don't import" choice, the
    API's "ignore" target.
    """
    return suggest_mapping(
        list(headers),
        custom_field_labels(tenant_id),
        remembered_mapping(tenant_id),
        samples=[row.values for row in rows if row.error is None],
        leave_out=leave_out,
    )
