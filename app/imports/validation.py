"""Normalizing and validating one row of an import: email, phone, custom values and tags."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from rapidfuzz.distance import OSA

from app.cell_text import FORMULA_STARTS
from app.imports.consent import CONSENT_FIELDS, status_reader
from app.imports.conversions import CONVERTERS, ConversionError
from app.imports.mapping import FieldTarget, MappingError, check_mapping
from app.imports.phones import valid_e164

TAG_MAX_LENGTH = 100
FIELD_MAX_LENGTH = {"first_name": 200, "last_name": 200, "company": 200, "phone": 50}
_FIELD_LABELS = {
    "first_name": "a first name",
    "last_name": "a last name",
    "company": "a company",
    "phone": "a phone number",
}
COMMON_EMAIL_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "mail.com",
    "email.com",
    "gmx.com",
    "gmx.de",
    "web.de",
    "protonmail.com",
    "proton.me",
    "comcast.net",
    "verizon.net",
    "btinternet.com",
)
# Top-level domains that do not exist and are one slip away from a real one.
_TLD_TYPOS = {
    "con": "com",
    "cmo": "com",
    "ocm": "com",
    "cpm": "com",
    "vom": "com",
    "xom": "com",
    "comm": "com",
    "nte": "net",
    "ent": "net",
    "ogr": "org",
    "rog": "org",
}
# Provider names shorter than this ("aol", "me", "msn") sit too close to real companies'
# domains ("aon.com") to guess at.
_TYPO_MIN_NAME_LENGTH = 5

# The common simple address, which email-validator would accept, checked ~40x faster.
# Labels never hold "--" (email-validator rejects "ab--c" labels) and special-use top-level
# domains, which email-validator refuses, are left to it.
_SIMPLE_EMAIL = re.compile(
    r"[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*@"
    r"(?:(?=[A-Za-z0-9-]{1,63}\.)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+"
    r"(?!(?i:arpa|invalid|local|localhost|onion|test)\Z)[A-Za-z]{2,63}"
)
_EMAIL_MAX_LENGTH = 254
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_TAG_SEPARATORS = re.compile(r"[;,]")
_TEXT_FIELDS = ("first_name", "last_name", "company")
_SHOWN_VALUE_LENGTH = 60


@dataclass(frozen=True)
class RowError:
    """One problem in one row, in words a marketer understands."""

    row: int
    column: str | None
    value: str
    message: str
    # what kind of problem, for grouping and filtering refused rows: "missing", "invalid",
    # "too_long", or "unreadable" (the row itself could not be read; no column)
    code: str = "invalid"


@dataclass(frozen=True)
class ValidationOptions:
    """How strictly rows are checked."""

    validate_email: bool = True
    validate_phone: bool = False
    default_region: str | None = None  # ISO 3166 two-letter code, e.g. "GB"


@dataclass(slots=True)
class CleanRow:
    """A row that passed validation, normalized and typed.

    `email` is what the contact stores and every page, the API and exports show; it is the
    normalized address (`Ann@Example.COM` -> `ann@example.com`), the same as `email_normalized`,
    which contacts are unique by. One spelling per contact: the preview shows it, and it does not
    depend on which file first brought the contact in.
    """

    row: int
    email: str
    email_normalized: str
    fields: dict[str, str | None] = field(default_factory=dict)
    custom: dict[str, object] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


class RowValidator:
    """Validates rows of one file against one mapping; build once, call `validate` per row."""

    def __init__(
        self,
        headers: list[str],
        mapping: dict[str, FieldTarget],
        custom_types: dict[str, str],
        options: ValidationOptions,
        row_label: str = "Row",
    ) -> None:
        """`row_label` is the word the source's row numbers go with ("Row", "Line", "Record")."""
        check_mapping(mapping, headers)
        self._row_label = row_label
        self._check_email = options.validate_email
        self._check_phone = options.validate_phone
        self._region = _checked_region(options.default_region)

        # Each row is cut down to the mapped cells, in this order: email, first name, last name,
        # company, phone, custom fields, consent, tags. The attributes below hold positions in that order.
        email: tuple[str, int] | None = None
        phone: tuple[str, int] | None = None
        texts: list[tuple[str, int]] = []
        customs: list[tuple[str, int, str, Callable[[str], object]]] = []
        consent: list[tuple[str, int, str, Callable[[str], object]]] = []
        tags: list[tuple[str, int]] = []
        problems: list[str] = []
        for index, header in enumerate(headers):
            target = mapping.get(header)
            if target is None or headers.index(header) != index:
                continue
            if target.kind == "tags":
                tags.append((header, index))
            elif target.kind == "custom":
                key = str(target.key)
                custom_type = custom_types.get(key, target.custom_type)
                if custom_type in CONVERTERS:
                    customs.append((key, index, header, CONVERTERS[custom_type]))
                elif custom_type is None:
                    problems.append(
                        f"Custom field '{key}' does not exist: create it or map '{header}' "
                        "to another field."
                    )
                else:
                    problems.append(f"Custom field '{key}' has the unknown type '{custom_type}'.")
            elif target.key == "email":
                email = (header, index)
            elif target.key == "phone":
                phone = (header, index)
            elif target.key in _TEXT_FIELDS:
                texts.append((str(target.key), index))
            elif target.key in CONSENT_FIELDS:
                key = str(target.key)
                read = status_reader(header) if key == "subscription_status" else CONVERTERS["date"]
                consent.append((key, index, header, read))
        if problems:
            raise MappingError(problems)
        assert email is not None  # nosec B101 # narrows the type; check_mapping insists on it

        texts.sort(key=lambda text: _TEXT_FIELDS.index(text[0]))
        indices = [email[1], *(index for _, index in texts)]
        self._email_column = email[0]
        self._text_keys = tuple(key for key, _ in texts)
        self._text_columns = {key: headers[index] for key, index in texts}
        if phone:
            self._text_columns["phone"] = phone[0]
        self._phone_column = phone[0] if phone else None
        if phone:
            indices.append(phone[1])
        self._phone_position = len(texts) + 1
        self._custom = []
        for key, index, column, convert in customs:
            self._custom.append((key, len(indices), column, convert))
            indices.append(index)
        self._consent = []
        for key, index, column, convert in consent:
            self._consent.append((key, len(indices), column, convert))
            indices.append(index)
        self._tags = []
        for column, index in tags:
            self._tags.append((column, len(indices)))
            indices.append(index)
        self._pick = _picker(indices)
        self._width = max(indices) + 1

    def imported_value(self, column: str, clean: CleanRow) -> str | None:
        """What a column's cell of a clean row is imported as, as text (None: not mapped)."""
        if column == self._email_column:
            return clean.email
        for key, text_column in self._text_columns.items():
            if text_column == column:
                return clean.fields.get(key) or ""
        for key, _position, custom_column, _convert in self._custom:
            if custom_column == column:
                value = clean.custom.get(key)
                return "" if value is None else str(value)
        for key, _position, consent_column, _convert in self._consent:
            if consent_column == column:
                value = clean.fields.get(key)
                return "" if value is None else str(value)
        if any(tag_column == column for tag_column, _position in self._tags):
            return ", ".join(clean.tags)
        return None

    def validate(self, row: int, values: list[str]) -> CleanRow | list[RowError]:
        """Clean one row, or say everything that is wrong with it."""
        if len(values) < self._width:
            values = [*values, *[""] * (self._width - len(values))]
        cells = list(map(str.strip, self._pick(values)))
        joined = "".join(cells)
        if not joined.isascii():
            cells = [unicodedata.normalize("NFC", cell) for cell in cells]
        if "'" in joined:
            cells = list(map(unescape_formula, cells))
        errors: list[RowError] = []

        email = cells[0]
        if self._check_email and is_simple_email(email):
            email_normalized = email.lower()  # email-validator would say the same, 40x slower
        else:
            email_normalized = self._email(row, email, errors)

        fields: dict[str, str | None] = dict(zip(self._text_keys, cells[1:], strict=False))
        if self._phone_column is not None:
            phone = cells[self._phone_position]
            if phone and (self._check_phone or not _E164.fullmatch(phone)):
                phone = self._phone_number(row, self._phone_column, phone, errors)
            fields["phone"] = phone

        custom: dict[str, object] = {}
        _convert_cells(row, cells, self._custom, custom, errors)

        tags = self._tag_list(row, cells, errors) if self._tags else []
        for key, value in fields.items():
            if value and len(value) > FIELD_MAX_LENGTH[key]:
                column = self._text_columns[key]
                errors.append(
                    RowError(
                        row,
                        column,
                        value,
                        code="too_long",
                        message=f"The value in column '{column}' is {len(value):,} "
                        f"characters long; {_FIELD_LABELS[key]} can hold at most "
                        f"{FIELD_MAX_LENGTH[key]}: shorten it.",
                    )
                )
        if self._consent:
            _convert_cells(row, cells, self._consent, fields, errors)  # type: ignore[arg-type]
        if errors:
            return errors
        return CleanRow(row, email_normalized, email_normalized, fields, custom, tags)

    def _email(self, row: int, email: str, errors: list[RowError]) -> str:
        """The normalized email, or "" after recording why the email is unusable."""
        column = self._email_column
        if not email:
            message = (
                f"{self._row_label} {row} has no email address in column '{column}': "
                f"add one or remove the {self._row_label.lower()}."
            )
            errors.append(RowError(row, column, email, message, "missing"))
            return ""
        if not self._check_email:
            local, at, domain = email.rpartition("@")
            if at and local and domain:
                return email.lower()
            message = (
                f"'{_shown(email)}' in column '{column}' is not an email address: "
                "it needs an @ with something on both sides."
            )
            errors.append(RowError(row, column, email, message))
            return ""
        try:
            return validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            errors.append(
                RowError(row, column, email, _invalid_email_message(email, column, error))
            )
            return ""

    def _phone_number(self, row: int, column: str, phone: str, errors: list[RowError]) -> str:
        """The phone in E.164 when it parses, as entered otherwise; invalid ones are errors."""
        if self._check_phone and (e164 := valid_e164(phone)) is not None:
            return e164  # what the parse below would give, ~10x faster (app/imports/phones.py)
        try:
            parsed = phonenumbers.parse(phone, self._region)
        except phonenumbers.NumberParseException:
            parsed = None
        if self._check_phone:
            if parsed is None or not phonenumbers.is_valid_number(parsed):
                message = (
                    f"'{_shown(phone)}' in column '{column}' is not a valid phone number: "
                    "include the country code, e.g. +44 20 7946 0958, or choose a default country."
                )
                errors.append(RowError(row, column, phone, message))
                return phone
        elif parsed is None or not phonenumbers.is_possible_number(parsed):
            return phone
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return f"{e164} ext. {parsed.extension}" if parsed.extension else e164

    def _tag_list(self, row: int, cells: list[str], errors: list[RowError]) -> list[str]:
        """Tags of every tag column, trimmed and without case-insensitive repeats."""
        tags: list[str] = []
        seen: set[str] = set()
        for column, position in self._tags:
            cell = cells[position]
            if not cell:
                continue
            for part in _TAG_SEPARATORS.split(cell):
                tag = part.strip()
                folded = tag.casefold()
                if not tag or folded in seen:
                    continue
                if len(tag) > TAG_MAX_LENGTH:
                    message = (
                        f"The tag '{_shown(tag)}' in column '{column}' has {len(tag)} characters: "
                        f"shorten it to at most {TAG_MAX_LENGTH}."
                    )
                    errors.append(RowError(row, column, cell, message, "too_long"))
                    continue
                seen.add(folded)
                tags.append(tag)
        return tags


def _convert_cells(
    row: int,
    cells: list[str],
    columns: list[tuple[str, int, str, Callable[[str], object]]],
    into: dict[str, object],
    errors: list[RowError],
) -> None:
    """Convert typed cells (custom fields, consent) into `into`; blank cells become None."""
    for key, position, column, convert in columns:
        value = cells[position]
        if not value:
            into[key] = None
            continue
        try:
            into[key] = convert(value)
        except ConversionError as error:
            message = f"'{_shown(value)}' in column '{column}' {error}"
            errors.append(RowError(row, column, value, message))


def is_simple_email(email: str) -> bool:
    """True for a plain ASCII address that email-validator would certainly accept (fast path)."""
    return len(email) <= _EMAIL_MAX_LENGTH and _SIMPLE_EMAIL.fullmatch(email) is not None


def email_domain_typo(domain: str) -> str | None:
    """The common provider a domain is likely a typo of (gmial.com -> gmail.com), or None."""
    domain = domain.strip().rstrip(".").lower()
    if not domain or domain in COMMON_EMAIL_DOMAINS:
        return None
    head, _, tld = domain.rpartition(".")
    fixed = f"{head}.{_TLD_TYPOS[tld]}" if head and tld in _TLD_TYPOS else domain
    if fixed in COMMON_EMAIL_DOMAINS:
        return fixed

    name, _, suffix = fixed.partition(".")
    best: tuple[int, str] | None = None
    for common in COMMON_EMAIL_DOMAINS:
        common_name, _, common_suffix = common.partition(".")
        if len(common_name) < _TYPO_MIN_NAME_LENGTH:
            continue
        name_edits = OSA.distance(name, common_name)
        suffix_edits = OSA.distance(suffix, common_suffix) if suffix else 0
        allowed = 1 if len(common_name) <= _TYPO_MIN_NAME_LENGTH else 2
        edits = name_edits + suffix_edits
        fits = name_edits <= allowed and suffix_edits <= 1 and edits <= 2
        if fits and (best is None or edits < best[0]):
            best = (edits, common)
    if best is not None:
        return best[1]
    return fixed if fixed != domain else None


def _picker(indices: list[int]) -> Callable[[list[str]], Sequence[str]]:
    """A function that takes the cells at `indices` out of a row (itemgetter, which is fast)."""
    if len(indices) == 1:
        return lambda values: (values[indices[0]],)
    return itemgetter(*indices)


def _shown(value: str) -> str:
    """A value short enough to quote in a message."""
    if len(value) <= _SHOWN_VALUE_LENGTH:
        return value
    return value[: _SHOWN_VALUE_LENGTH - 1] + "…"


def _checked_region(region: str | None) -> str | None:
    """The default phone region in upper case, refusing ones phonenumbers does not know."""
    if region is None:
        return None
    upper = region.strip().upper()
    if upper not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"'{region}' is not a country phone numbers can default to: "
            "use a two-letter ISO code such as GB or US."
        )
    return upper


def _invalid_email_message(email: str, column: str, error: EmailNotValidError) -> str:
    """What is wrong with an address, with a likely fix when the domain is a known typo."""
    message = (
        f"'{_shown(email)}' in column '{column}' is not a valid email address: check for typos."
    )
    local, at, domain = email.rpartition("@")
    typo = email_domain_typo(domain) if at and local else None
    if typo is not None:
        message = message[:-1] + f" (did you mean {local}@{typo}?)."
    return f"{message} {error}"


def unescape_formula(cell: str) -> str:
    """Drop the `'` our error reports and exports put before a formula-like value (`'=SUM`,
    `'+44 20 ...`), so a corrected error report imports the values the first file held."""
    if cell[:1] == "'" and cell[1:2] and cell[1] in FORMULA_STARTS:
        return cell[1:]
    return cell
