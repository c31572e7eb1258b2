"""Turning an API import request into the engine's ImportOptions, with every problem named.

The file is read the way the wizard reads it (`app.imports.uploads.analyze_file`), so the file type, encoding,
delimiter and worksheet come from the file itself; the mapping is checked against its headers.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote, unquote

from app.imports.draft_mapping import custom_fields
from app.imports.mapping import (
    STANDARD_FIELDS,
    MappingError,
    check_mapping,
    parse_target,
    rule_name,
    target_to_spec,
)
from app.imports.options import ImportOptions, OptionsError
from app.imports.uploads import FileFacts, apply_facts
from app.storage import InvalidKey, StorageError, validate_key
from app.web.api.errors import ApiError, field_error
from app.web.api.schemas import MappingAndOptionsBody

UNMAP_IN_API = 'map {} to "ignore"'
"""How a column is left out of an import in the API's words (see `check_mapping`)."""
FILE_URL = re.compile(
    r"upload://(\d{4})/(\d{2})/([0-9a-f]{32})((?:\.[a-z0-9]{1,9}){0,2})(?:\?name=([^&#\s]*))?"
)
_TARGETS_HELP = (
    "use email, first_name, last_name, company, phone, tags, ignore, custom:<key> for one of "
    "your custom fields, or <key>:<type> to create one (type text, number, date or boolean)"
)


def file_url_of(key: str, file_name: str | None = None) -> str:
    """The opaque fileUrl of a stored upload: `upload://<yyyy>/<mm>/<id><suffix>?name=<name>`.

    It leaves out the tenant: the key is rebuilt under the caller's own tenant, so another
    tenant's fileUrl can only ever name a file that does not exist. The name the file was
    uploaded with travels in it, so an import of it shows that name without being told again.
    """
    parts = key.split("/")
    url = f"upload://{parts[-3]}/{parts[-2]}/{parts[-1]}"
    return f"{url}?name={quote(file_name, safe='')}" if file_name else url


def upload_key(tenant_id: uuid.UUID, file_url: str) -> tuple[str, str | None]:
    """The storage key a fileUrl names for this tenant, and the name it was uploaded with;
    422 when it names no upload of theirs."""
    from flask import current_app

    days = current_app.config["FILE_RETENTION_DAYS"]
    missing = field_error(
        422,
        "fileUrl",
        "No uploaded file has this fileUrl (uploads never imported are deleted after "
        f"{days} days): upload the file with POST /api/uploads.",
    )
    match = FILE_URL.fullmatch(file_url.strip())
    if match is None:
        raise missing
    year, month, name, suffix, uploaded_as = match.groups()
    key = f"tenants/{tenant_id}/uploads/{year}/{month}/{name}{suffix}"
    try:
        validate_key(key)
        exists = current_app.extensions["storage"].exists(key)
    except (InvalidKey, StorageError):
        exists = False
    if not exists:
        raise missing
    return key, unquote(uploaded_as) if uploaded_as else None


def mapping_specs(tenant_id: uuid.UUID, mapping: dict[str, str]) -> dict[str, str]:
    """The mapping with each target checked and written the engine's way; 422 naming each column."""
    custom = custom_fields(tenant_id)
    specs: dict[str, str] = {}
    details = []
    for header, spec in mapping.items():
        field = f"fieldMapping.{header}"
        try:
            target = parse_target(spec)
        except MappingError as exc:
            details += [{"field": field, "message": p} for p in exc.problems]
            continue
        if target.kind == "custom" and not target.custom_type and target.key not in custom:
            details.append(
                {"field": field, "message": f"'{spec}' is not one of your fields: {_TARGETS_HELP}."}
            )
            continue
        specs[header] = target_to_spec(target)
    if details:
        raise ApiError(
            422, "The field mapping has targets that do not exist: see details.", details
        )
    return specs


def build_options(
    tenant_id: uuid.UUID,
    body: MappingAndOptionsBody,
    file_name: str,
    key: str,
    facts: FileFacts,
) -> ImportOptions:
    """The engine's options for this request and file; 422 naming what does not fit the file."""
    opts = body.options
    options = ImportOptions(
        file_name=file_name,
        file_key=key,
        field_mapping=mapping_specs(tenant_id, body.field_mapping),
        duplicate_strategy=opts.duplicate_strategy,
        tags=[t.strip() for t in opts.tags if t.strip()],
        segment_name=opts.segment_name.strip() if opts.segment_name else None,
        validate_email=opts.validate_email,
        validate_phone=opts.validate_phone,
        default_region=opts.default_phone_region,
        blank_clears=opts.blank_clears,
        field_rules=dict(opts.field_rules),
        tags_mode=opts.tags_mode,
        new_contact_status=opts.new_contact_status,
        consent_confirmed=opts.consent_confirmed,
        suppression_list=opts.suppression_list,
    )
    apply_facts(options, facts)
    headers = list(facts.info.headers)
    details: list[dict[str, Any]] = []
    try:
        check_mapping(options.targets(), headers, unmap=UNMAP_IN_API)
    except MappingError as exc:
        details += [{"field": "fieldMapping", "message": p} for p in exc.problems]
    mapped = {rule_name(t) for t in options.targets().values()} - {None}
    for name in options.field_rules:
        if name not in mapped:
            details.append(
                {
                    "field": f"options.fieldRules.{name}",
                    "message": f"'{name}' is not a mapped field: use one of "
                    f"{', '.join(sorted(str(m) for m in mapped)) or 'the mapped fields'}.",
                }
            )
    if not details:
        try:
            options.check(headers)
        except OptionsError as exc:
            details += [{"field": "options", "message": p} for p in exc.problems]
    if details:
        columns = ", ".join(f"'{h}'" for h in headers[:20])
        raise ApiError(
            422, f"The mapping or options do not fit the file (its columns: {columns}).", details
        )
    return options


def standard_targets() -> list[str]:
    """The targets a column can be mapped to without a custom field."""
    return [*STANDARD_FIELDS, "tags", "ignore"]
