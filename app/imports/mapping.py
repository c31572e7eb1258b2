"""Where each column of an import goes: field targets, mapping checks and mapping suggestions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA, Indel, Levenshtein

from app.imports.column_values import ColumnValues, profile_columns
from app.imports.header_spellings import (
    ALIAS_INDEX,
    COMMON_BY_KEY,
    Alias,
    fold_accents,
    normalize_header,
)

STANDARD_FIELDS: dict[str, str] = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "company": "Company",
    "phone": "Phone",
    "subscription_status": "Subscription status",
    "consented_on": "Consent date",
    "unsubscribed_on": "Unsubscribe date",
}
CUSTOM_FIELD_TYPES = ("text", "number", "date", "boolean")
TARGET_KINDS = ("standard", "custom", "tags", "ignore")

_FUZZY_MIN_ALIAS_LENGTH = 6
_CUSTOM_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_REORDERED_WEIGHT = 0.95
_PRIORITY = {"remembered": 4, "exact": 3, "alias": 2, "common": 2, "values": 1, "fuzzy": 0}
_DONT_IMPORT = "Don't import"
UNMAP_IN_WIZARD = "set {} to " + _DONT_IMPORT


class MappingError(Exception):
    """A mapping that cannot be used; `problems` holds one clear sentence per problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class FieldTarget:
    """Where one column goes: a standard field, a custom field, the tags, or nowhere."""

    kind: str
    key: str | None = None
    custom_type: str | None = None  # set when the import creates this custom field


IGNORE = FieldTarget("ignore")
TAGS = FieldTarget("tags")


@dataclass(frozen=True)
class Suggestion:
    """A suggested target for one header, with why it was suggested."""

    header: str
    target: FieldTarget
    reason: str  # one of suggestions.SUGGESTION_REASONS
    score: float
    detail: str


def parse_target(spec: str) -> FieldTarget:
    """Read a target spec such as "email", "tags", "ignore", "custom:zip" or "zip:text"."""
    text = spec.strip().lower()
    if text in ("", "ignore"):
        return IGNORE
    if text == "tags":
        return TAGS
    if text in STANDARD_FIELDS:
        return FieldTarget("standard", text)
    if text.startswith("custom:"):
        text = text.removeprefix("custom:").strip()
    key, _, custom_type = (part.strip() for part in text.partition(":"))
    if key in STANDARD_FIELDS or key in ("tags", "ignore"):
        raise MappingError(f"'{key}' is a built-in target, so it cannot be a custom field key.")
    if not _CUSTOM_KEY.fullmatch(key):
        raise MappingError(
            f"'{key}' is not a valid custom field key: use lowercase letters, digits and "
            "underscores, starting with a letter (at most 64 characters)."
        )
    if not custom_type:
        return FieldTarget("custom", key)
    if custom_type not in CUSTOM_FIELD_TYPES:
        raise MappingError(_unknown_type_message(key, custom_type))
    return FieldTarget("custom", key, custom_type)


def target_to_spec(target: FieldTarget) -> str:
    """Write a target as the spec string `parse_target` reads back."""
    if target.kind == "standard":
        return str(target.key)
    if target.kind == "custom":
        if target.custom_type:
            return f"{target.key}:{target.custom_type}"
        return f"custom:{target.key}"
    return target.kind


def rule_name(target: FieldTarget) -> str | None:
    """The name field rules use for a target's field, or None (email, tags, ignore)."""
    if target.kind == "custom":
        return f"custom:{target.key}"
    if target.kind == "standard" and target.key != "email":
        return str(target.key)
    return None


def check_mapping(
    mapping: dict[str, FieldTarget], headers: list[str], unmap: str = UNMAP_IN_WIZARD
) -> None:
    """Raise MappingError listing every problem of a header -> target mapping.

    `unmap` says how a column is left out where the reader works (`{}` is the column): the
    wizard's "Don't import" choice, or the API's "ignore" target.
    """
    problems: list[str] = []
    columns = set(headers)
    mapped = [(header, target) for header, target in mapping.items() if target.kind != "ignore"]

    if not any(target == FieldTarget("standard", "email") for _, target in mapped):
        problems.append("Map a column to Email: every contact needs an email address.")

    by_field: dict[tuple[str, str | None], list[str]] = {}
    for header, target in mapped:
        if target.kind in ("standard", "custom"):
            by_field.setdefault((target.kind, target.key), []).append(header)
    for (kind, key), sources in by_field.items():
        if len(sources) > 1:
            problems.append(_duplicate_message(sources, _field_name(kind, key), unmap))

    for header, target in mapped:
        if header not in columns:
            problems.append(
                f"'{header}' is not a column in this file: map one of the file's columns instead."
            )
        elif headers.count(header) > 1:
            problems.append(
                f"The file has {headers.count(header)} columns named '{header}': "
                "rename them so each column has its own name."
            )
        problems.extend(_target_problems(header, target))

    if problems:
        raise MappingError(problems)


def suggest_mapping(
    headers: list[str],
    custom_fields: dict[str, str] | None = None,
    remembered: dict[str, str] | None = None,
    fuzzy_threshold: float = 82,
    samples: Sequence[Sequence[str]] | None = None,
    leave_out: str = _DONT_IMPORT,
) -> list[Suggestion]:
    """Suggest a target for each header, in header order, never one field for two headers.

    With `samples` (the first rows, aligned with the headers) the values count too: a column of
    email addresses or phone numbers is suggested as such whatever its header, an empty column is
    never suggested, a new custom field gets its values' type, and of two columns that fit one
    field the one with more valid values wins. `leave_out` names the choice that leaves a
    column out where the reader works: the wizard's "Don't import", the API's "ignore".
    """
    custom_fields = custom_fields or {}
    remembered_specs = {normalize_header(h): spec for h, spec in (remembered or {}).items()}
    exact = _exact_index(custom_fields)
    choices = _fuzzy_choices(custom_fields)

    suggestions = [
        _suggest_one(
            header, custom_fields, remembered_specs, exact, choices, fuzzy_threshold, leave_out
        )
        for header in headers
    ]
    profiles = profile_columns(headers, samples) if samples else None
    if profiles is not None:
        suggestions = [_with_values(s, v) for s, v in zip(suggestions, profiles, strict=True)]
    return _drop_double_assignments(suggestions, custom_fields, profiles, leave_out)


EMAIL = FieldTarget("standard", "email")
PHONE = FieldTarget("standard", "phone")
_VALUE_WORDS = {"date": "dates", "number": "numbers", "boolean": "yes/no values"}


def _with_values(suggestion: Suggestion, values: ColumnValues) -> Suggestion:
    """The header's suggestion, corrected by what the column's first values are."""
    header, target = suggestion.header, suggestion.target
    if values.empty:
        detail = f"Empty in the first {values.sampled} rows: nothing to import from this column"
        return Suggestion(header, IGNORE, "empty", 0.0, detail)
    if suggestion.reason == "remembered":
        return suggestion
    if suggestion.reason in ("none", "fuzzy") and target != EMAIL and values.mostly(values.emails):
        detail = f"{values.emails} of {values.filled} sampled values are email addresses"
        return Suggestion(header, EMAIL, "values", 100.0, detail)
    if suggestion.reason == "none" and values.mostly(values.phones):
        detail = f"{values.phones} of {values.filled} sampled values look like phone numbers"
        return Suggestion(header, PHONE, "values", 90.0, detail)
    unfit = _unfit_values(target, values)
    if unfit:
        detail = f"Could be {_field_name(target.kind, target.key)}, but {unfit}"
        return Suggestion(header, IGNORE, "none", 0.0, f"{detail}: pick a field or leave it out")
    if target.kind == "custom" and target.custom_type:
        return _typed_by_values(suggestion, values)
    return suggestion


_CONSENT_KINDS = {
    "subscription_status": ("statuses", "statuses (subscribed, unsubscribed, yes/no...)"),
    "consented_on": ("dates", "dates"),
    "unsubscribed_on": ("dates", "dates"),
}


def _unfit_values(target: FieldTarget, values: ColumnValues) -> str | None:
    """Why a consent field does not fit the column's values (a CRM 'Status' of Open/Won)."""
    if target.kind != "standard" or target.key not in _CONSENT_KINDS:
        return None
    count_name, words = _CONSENT_KINDS[str(target.key)]
    count = getattr(values, count_name)
    if values.mostly(count, 1.0):
        return None
    return f"only {count} of {values.filled} sampled values are {words}"


def _typed_by_values(suggestion: Suggestion, values: ColumnValues) -> Suggestion:
    """A new custom field's type from its values: every sampled value must convert to it.

    A common column keeps its own type when every value fits it (a postal code stays text even
    when all sampled codes are digits), and falls back to text when some do not; only columns
    without a natural type (a lead source) take the type their values have.
    """
    target = suggestion.target
    declared = str(target.custom_type)
    common = COMMON_BY_KEY.get(str(target.key))
    value_type = values.value_type()
    if common is not None and not common.typed_by_values:
        fits = declared == "text" or value_type == declared
        value_type = declared if fits else "text"
    if value_type == declared:
        return suggestion
    detail = suggestion.detail.replace(f"({declared})", f"({value_type})")
    if value_type != "text":
        count = {"date": values.dates, "number": values.numbers}.get(value_type, values.booleans)
        detail += f"; {count} of {values.filled} sampled values are {_VALUE_WORDS[value_type]}"
    else:
        detail += f"; not every sampled value is {_VALUE_WORDS.get(declared, declared)}"
    retyped = FieldTarget("custom", target.key, value_type)
    return Suggestion(suggestion.header, retyped, suggestion.reason, suggestion.score, detail)


def _valid_count(target: FieldTarget, values: ColumnValues) -> int:
    """How many sampled values of a column fit a target."""
    if target == EMAIL:
        return values.emails
    if target == PHONE:
        return values.phones
    return values.filled


def _suggest_one(
    header: str,
    custom_fields: dict[str, str],
    remembered: dict[str, str],
    exact: dict[str, tuple[FieldTarget, str]],
    choices: dict[str, tuple[FieldTarget, str]],
    fuzzy_threshold: float,
    leave_out: str = _DONT_IMPORT,
) -> Suggestion:
    """Suggest a target for one header, ignoring the other headers."""
    normalized = normalize_header(header)
    if not normalized:
        return _no_suggestion(header, leave_out)

    target = _remembered_target(remembered.get(normalized), custom_fields)
    if target is not None:
        detail = (
            f"You chose {leave_out} for this header last time"
            if target.kind == "ignore"
            else "You mapped this header the same way last time"
        )
        return Suggestion(header, target, "remembered", 100.0, detail)

    if normalized in exact:
        target, name = exact[normalized]
        return Suggestion(header, target, "exact", 100.0, f"Matches the {name}")

    alias = ALIAS_INDEX.get(fold_accents(normalized))
    if alias is not None:
        return _alias_suggestion(header, alias, custom_fields)

    best = process.extractOne(
        normalized, list(choices), scorer=_typo_similarity, score_cutoff=fuzzy_threshold
    )
    if best is not None:
        choice, score, _ = best
        target, shown = choices[choice]
        detail = f"Looks like '{shown}' ({score:.0f}% similar)"
        return Suggestion(header, target, "fuzzy", round(score, 1), detail)
    return _no_suggestion(header, leave_out)


def _no_suggestion(header: str, leave_out: str) -> Suggestion:
    """The suggestion for a header nothing matches."""
    detail = f"No field looks like this column: pick one or leave it as {leave_out}"
    return Suggestion(header, IGNORE, "none", 0.0, detail)


def _remembered_target(spec: str | None, custom_fields: dict[str, str]) -> FieldTarget | None:
    """The remembered target, or None when there is none or its custom field is gone."""
    if spec is None:
        return None
    try:
        target = parse_target(spec)
    except MappingError:
        return None
    if target.kind != "custom":
        return target
    if target.key in custom_fields:
        return FieldTarget("custom", target.key)  # created last time, exists now
    return target if target.custom_type else None


def _exact_index(custom_fields: dict[str, str]) -> dict[str, tuple[FieldTarget, str]]:
    """Normalized field keys and labels -> (target, how to name it in a sentence)."""
    index: dict[str, tuple[FieldTarget, str]] = {}
    for key, label in STANDARD_FIELDS.items():
        for name in (key, label):
            index.setdefault(normalize_header(name), (parse_target(key), f"field '{label}'"))
    index.setdefault("tags", (TAGS, "field 'Tags'"))
    for key, label in custom_fields.items():
        for name in (key, label):
            target = FieldTarget("custom", key)
            index.setdefault(normalize_header(name), (target, f"custom field '{label}'"))
    return index


def _fuzzy_choices(custom_fields: dict[str, str]) -> dict[str, tuple[FieldTarget, str]]:
    """Normalized names a header may be a typo of -> (target, name as shown to the user)."""
    choices: dict[str, tuple[FieldTarget, str]] = {}
    for key, label in STANDARD_FIELDS.items():
        choices.setdefault(normalize_header(label), (parse_target(key), label))
    choices.setdefault("tags", (TAGS, "Tags"))
    for normalized, alias in ALIAS_INDEX.items():
        if alias.typo_target and len(normalized.replace(" ", "")) >= _FUZZY_MIN_ALIAS_LENGTH:
            choices.setdefault(normalized, (parse_target(alias.spec), alias.spelling))
    for key, label in custom_fields.items():
        choices.setdefault(normalize_header(label), (FieldTarget("custom", key), label))
    return choices


def _typo_similarity(a: str, b: str, **_: object) -> float:
    """Indel similarity (0-100) where swapping two neighbours costs one edit, not two.

    Plain ratios (fuzz.ratio, WRatio, token_sort_ratio) score "emial" against "email" at 80,
    no better than "business fax" against "business"; a swap is the commonest typo, so it counts
    as one edit. Words in another order ("Name First") score 95% of their sorted similarity.
    """

    def similarity(x: str, y: str) -> float:
        swaps = Levenshtein.distance(x, y) - OSA.distance(x, y)
        total = len(x) + len(y)
        return 100.0 * (1 - (Indel.distance(x, y) - swaps) / total) if total else 100.0

    in_order = similarity(a, b)
    if in_order == 100.0 or " " not in a + b:
        return in_order
    reordered = similarity(" ".join(sorted(a.split())), " ".join(sorted(b.split())))
    return max(in_order, _REORDERED_WEIGHT * reordered)


def _alias_suggestion(header: str, alias: Alias, custom_fields: dict[str, str]) -> Suggestion:
    """The suggestion for a header that is a known spelling of a field or of a common column."""
    if alias.common is None:
        return Suggestion(header, parse_target(alias.spec), "alias", 100.0, alias.detail)
    column = alias.common
    if column.key in custom_fields:
        target = FieldTarget("custom", column.key)
        detail = f"{alias.detail}: your custom field '{custom_fields[column.key]}'"
    else:
        target = FieldTarget("custom", column.key, column.custom_type)
        detail = f"{alias.detail}: a new custom field '{column.key}' ({column.custom_type})"
    return Suggestion(header, target, "common", 100.0, detail)


def _drop_double_assignments(
    suggestions: list[Suggestion],
    custom_fields: dict[str, str],
    profiles: list[ColumnValues] | None = None,
    leave_out: str = _DONT_IMPORT,
) -> list[Suggestion]:
    """Keep each field for its best header: most valid sampled values, then priority, score and
    first column."""

    def rank(index: int) -> tuple[bool, int, int, float]:
        # A column whose values mostly fit comes first; among those the header's evidence
        # (remembered, exact, alias...) decides, then the number of fitting values.
        suggestion = suggestions[index]
        valid = _valid_count(suggestion.target, profiles[index]) if profiles else 0
        credible = profiles is None or 2 * valid >= profiles[index].sampled
        return (credible, _PRIORITY.get(suggestion.reason, -1), valid, suggestion.score)

    winners: dict[FieldTarget, int] = {}
    for index, suggestion in enumerate(suggestions):
        target = suggestion.target
        if target.kind not in ("standard", "custom"):
            continue
        slot = FieldTarget(target.kind, target.key)
        current = winners.get(slot)
        if current is None or rank(index) > rank(current):
            winners[slot] = index

    result = []
    for index, suggestion in enumerate(suggestions):
        target = suggestion.target
        if target.kind in ("standard", "custom"):
            winner = winners[FieldTarget(target.kind, target.key)]
            if winner != index:
                detail = _lost_to(suggestion, suggestions[winner], rank(winner)[2], rank(index)[2])
                detail += f": pick another field or leave it as {leave_out}"
                suggestion = Suggestion(suggestion.header, IGNORE, "none", 0.0, detail)
        result.append(suggestion)
    return result


def _lost_to(loser: Suggestion, winner: Suggestion, won: int, lost: int) -> str:
    """Why a column is not suggested for the field another column got."""
    target = loser.target
    name = _field_name(target.kind, target.key) if target.kind == "standard" else "this field"
    if won > lost:
        what = {EMAIL: "email addresses", PHONE: "phone numbers"}.get(
            FieldTarget(target.kind, target.key), "filled values"
        )
        return (
            f"Could be {name}, but '{winner.header}' has more {what} in the first rows "
            f"({won} against {lost})"
        )
    return f"Could be {name}, but '{winner.header}' matches it better"


def _field_name(kind: str, key: str | None, custom_fields: dict[str, str] | None = None) -> str:
    """How a field is named in a sentence."""
    if kind == "standard" and key in STANDARD_FIELDS:
        return STANDARD_FIELDS[key]
    label = (custom_fields or {}).get(str(key), key)
    return f"custom field '{label}'"


def _duplicate_message(headers: list[str], field: str, unmap: str) -> str:
    """The sentence for several columns mapped to one field."""
    quoted = [f"'{header}'" for header in headers]
    if len(quoted) == 2:
        return (
            f"{quoted[0]} and {quoted[1]} are both mapped to {field}: "
            f"keep one and {unmap.format('the other')}."
        )
    listed = ", ".join(quoted[:-1]) + f" and {quoted[-1]}"
    return f"{listed} are all mapped to {field}: keep one and {unmap.format('the others')}."


def _unknown_type_message(key: str | None, custom_type: str) -> str:
    """The sentence for a custom field type that does not exist."""
    allowed = ", ".join(CUSTOM_FIELD_TYPES[:-1]) + f" or {CUSTOM_FIELD_TYPES[-1]}"
    return f"Custom field '{key}' has the unknown type '{custom_type}': choose {allowed}."


def _target_problems(header: str, target: FieldTarget) -> list[str]:
    """Problems of a target built by hand rather than by `parse_target`."""
    if target.kind not in TARGET_KINDS:
        return [f"'{header}' is mapped to '{target.kind}', which is not a kind of field."]
    if target.kind == "standard" and target.key not in STANDARD_FIELDS:
        return [f"'{header}' is mapped to '{target.key}', which is not a field."]
    if target.kind == "custom":
        if not target.key or not _CUSTOM_KEY.fullmatch(target.key):
            return [f"'{header}' is mapped to the invalid custom field key '{target.key}'."]
        if target.custom_type is not None and target.custom_type not in CUSTOM_FIELD_TYPES:
            return [_unknown_type_message(target.key, target.custom_type)]
    return []
