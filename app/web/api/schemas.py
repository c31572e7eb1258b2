"""What the API accepts: pydantic models of the request bodies, checked strictly.

Field names are camelCase on the wire. Unknown fields are refused, and values are not coerced
(`"yes"` is not a boolean), so a typo is reported instead of silently ignored. The OpenAPI
document takes its request schemas from these models, so the two cannot drift apart.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from phonenumbers import SUPPORTED_REGIONS
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from app.exports.query import CONDITION_OPERATORS
from app.imports.options import DUPLICATE_STRATEGIES, FIELD_RULES, TAG_MODES
from app.models import SUBSCRIPTION_STATUSES
from app.models.exports import EXPORT_FORMATS

if TYPE_CHECKING:  # a Literal of a tuple's values, which only run time can read
    Strategy = str
else:
    Strategy = Literal[tuple(DUPLICATE_STRATEGIES)]
FieldRule = Literal[FIELD_RULES]  # type: ignore[valid-type]
TagsMode = Literal[TAG_MODES]  # type: ignore[valid-type]
ExportFormat = Literal[EXPORT_FORMATS]  # type: ignore[valid-type]
SubscriptionStatus = Literal[SUBSCRIPTION_STATUSES]  # type: ignore[valid-type]
if TYPE_CHECKING:
    ConditionOp = str
else:
    ConditionOp = Literal[tuple(CONDITION_OPERATORS)]

Name = Annotated[str, Field(min_length=1, max_length=200)]
TagName = Annotated[str, Field(min_length=1, max_length=100)]
Header = Annotated[str, Field(min_length=1, max_length=255)]
TargetSpec = Annotated[str, Field(max_length=100)]
FieldKey = Annotated[str, Field(min_length=1, max_length=100)]

MAX_TAGS = 50
MAX_COLUMNS = 500
MAX_CONDITIONS = 10


class ApiModel(BaseModel):
    """camelCase on the wire, unknown fields refused, no coercion between types."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,
    )


class ImportOptionsBody(ApiModel):
    """How to import: duplicates, tags, segment, checks, worksheet, dry run."""

    duplicate_strategy: Strategy = Field(
        "update",
        description="skip: leave existing contacts alone; update: write the file's values; "
        "create: only create new emails.",
    )
    tags: list[TagName] = Field(
        default_factory=list, max_length=MAX_TAGS, description="Tags for every contact."
    )
    segment_name: Name | None = Field(
        None, description="Add every contact to this segment (created when new)."
    )
    validate_email: bool = Field(True, description="Refuse rows whose email is not valid.")
    validate_phone: bool = Field(False, description="Refuse rows whose phone is not valid.")
    default_phone_region: str | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Two-letter country for phone numbers without a country code, e.g. GB.",
    )
    sheet: Name | None = Field(None, description="XLSX worksheet (default: the first with data).")
    dry_run: bool = Field(
        False, description="Only report what the import would do; nothing is written."
    )
    blank_clears: bool = Field(False, description="Blank cells erase values on update.")
    new_contact_status: Literal["non_subscribed", "subscribed"] = Field(
        "non_subscribed",
        description="Status of new contacts the file gives none: subscribed only together "
        "with consentConfirmed.",
    )
    consent_confirmed: bool = Field(
        False,
        description="You confirm the file's contacts gave permission to receive marketing email "
        "(needed for newContactStatus subscribed).",
    )
    suppression_list: bool = Field(
        False, description="Mark every contact in the file unsubscribed, whatever it says."
    )
    tags_mode: TagsMode = Field("add", description="add to or replace the contacts' tags.")
    field_rules: dict[FieldKey, FieldRule] = Field(
        default_factory=dict,
        max_length=MAX_COLUMNS,
        description="Per field, on update: overwrite, fill_empty or never.",
    )

    @field_validator("default_phone_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in SUPPORTED_REGIONS:
            raise ValueError("Use a two-letter country code such as GB or US.")
        return value.upper() if value else None


class MappingAndOptionsBody(ApiModel):
    """The parts of an import request besides the file."""

    field_mapping: dict[Header, TargetSpec] = Field(
        min_length=1,
        max_length=MAX_COLUMNS,
        description="Column header -> email, first_name, last_name, company, phone, "
        "subscription_status, consented_on, unsubscribed_on, tags, ignore, custom:<key> (an existing custom field) or <key>:<type> (a new one; type "
        "text, number, date or boolean). Columns left out are not imported.",
    )
    options: ImportOptionsBody = Field(default_factory=lambda: ImportOptionsBody.model_validate({}))


class ImportRequestBody(MappingAndOptionsBody):
    """Import a file uploaded before with POST /api/uploads."""

    file_url: str = Field(
        min_length=1,
        max_length=1200,
        description="The fileUrl POST /api/uploads (or /uploads/presign) answered, as it is.",
    )
    file_name: Header | None = Field(
        None,
        description="The name to show for the file (default: the name it was uploaded with).",
    )


class RollbackBody(ApiModel):
    """Options of a rollback."""

    force: bool = Field(False, description="Also restore contacts that changed since the import.")


class RowCorrection(ApiModel):
    """One refused row corrected: new values by column header, or the row skipped."""

    row_number: int = Field(
        ge=1, le=2**31 - 1, description="The row's number, as `errors` gives it."
    )
    cells: dict[Header, Annotated[str, Field(max_length=10_000)]] = Field(
        default_factory=dict,
        description="New values by the file's column header (only the columns the import reads); "
        "a cell set back to its value in the file is no longer corrected.",
    )
    skip: bool = Field(False, description="Leave the row out of the import.")


class CorrectionsBody(ApiModel):
    """Corrections of refused rows, validated as the import validates them."""

    rows: list[RowCorrection] = Field(min_length=1, max_length=500)


class PresignBody(ApiModel):
    """A file about to be uploaded straight to S3."""

    file_name: Header = Field(description="The file's name; its extension is kept.")


class ConditionBody(ApiModel):
    """`field` equals / contains / is empty / is not empty `value` (text ignores case)."""

    field: FieldKey = Field(
        description="email, first_name, last_name, company, phone or custom:<key>."
    )
    op: ConditionOp = "equals"
    value: Annotated[str, Field(max_length=500)] = ""


class ExportFiltersBody(ApiModel):
    """What narrows an export down; dates are whole days in UTC, both ends included."""

    tags: list[TagName] = Field(default_factory=list, max_length=MAX_TAGS)
    tags_mode: Literal["any", "all"] = "any"
    created_from: date | None = None
    created_to: date | None = None
    updated_from: date | None = None
    updated_to: date | None = None
    statuses: list[SubscriptionStatus] = Field(default_factory=list, max_length=3)
    conditions: list[ConditionBody] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    min_opened: Annotated[int, Field(ge=0, le=2_000_000_000)] | None = None
    min_clicked: Annotated[int, Field(ge=0, le=2_000_000_000)] | None = None
    engaged_since: date | None = None

    @model_validator(mode="after")
    def _ranges_in_order(self) -> ExportFiltersBody:
        for start, end, name in (
            (self.created_from, self.created_to, "createdTo"),
            (self.updated_from, self.updated_to, "updatedTo"),
        ):
            if start and end and end < start:
                raise ValueError(f"{name} is before its start date.")
        return self


class ExportOptionsBody(ApiModel):
    """The design's ExportOptions: format, filters, segment and fields."""

    format: ExportFormat = Field("csv", description="csv, xlsx, json or ndjson.")
    filters: ExportFiltersBody | None = None
    segment_id: uuid.UUID | None = Field(None, description="Export only this segment.")
    selected_fields: list[FieldKey] | None = Field(
        None,
        min_length=1,
        max_length=MAX_COLUMNS,
        description="Field keys in order (default: email, first_name, last_name, company, "
        "phone): also subscription_status, tags, segments, emails_opened, emails_clicked, "
        "last_engaged_at, created_at, updated_at, id and custom:<key>.",
    )
    include_custom_fields: bool = Field(False, description="Add every custom field.")
    include_engagement_metrics: bool = Field(
        False, description="Add emails opened and clicked and the last engagement time."
    )
    csv_for_excel: bool = Field(False, description="CSV with a byte order mark for Excel.")


def json_schema(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's JSON Schema with `$ref`s into components, and the components it uses."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return schema, definitions
