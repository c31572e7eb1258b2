"""A fast, exact check of phone numbers written in international form (`+44 20 7946 0958`).

`phonenumbers.parse` + `is_valid_number` cost ~46 µs a number, most of a row's validation.
For a `+` followed by digits and plain separators this module repeats what they do for such
input, reading phonenumbers' own metadata with precompiled patterns, and answers only when the
number is valid: anything else (another shape, an unknown calling code, a national prefix
that parse could strip, an invalid number) gets None, and the caller asks phonenumbers, so
errors and messages stay theirs. tests/imports/test_phone_fast_path.py compares the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumberDesc

# "+", then ASCII digits and the separators " ().-" only. For this shape parse keeps every digit
# after the "+", in order, and nothing else: it finds no extension (every extension pattern
# needs a letter, "#", "~", ";" or ","), no RFC 3966 parameters, no letters to map to digits,
# and the separators are punctuation its viability pattern accepts.
_SHAPE = re.compile(r"\+[0-9 ().-]+")
_SEPARATORS = str.maketrans("", "", " ().-")
_MAX_INPUT_LENGTH = 250  # parse refuses longer strings
_MIN_DIGITS = 3  # parse wants more than two digits after the "+"
_MIN_NATIONAL_LENGTH = 2
_MAX_NATIONAL_LENGTH = 17
_NON_GEO_REGION = "001"
_CALLING_CODES = {str(code): code for code in COUNTRY_CODE_TO_REGION_CODE}
_MAX_CODE_LENGTH = 3


@dataclass(slots=True)
class _Region:
    """One region's validity rules: the general pattern and the number types' patterns."""

    leading_digits: re.Pattern[str] | None
    general_lengths: frozenset[int]
    general: re.Pattern[str] | None
    # (possible lengths or None for any, pattern source) of every number type that counts
    types: tuple[tuple[frozenset[int] | None, str], ...]
    by_length: dict[int, re.Pattern[str] | None] = field(default_factory=dict)

    def is_valid(self, national: str) -> bool:
        """What phonenumbers' `_number_type_helper(...) != UNKNOWN` says for this region."""
        length = len(national)
        if self.general is None or (self.general_lengths and length not in self.general_lengths):
            return False
        if self.general.fullmatch(national) is None:
            return False
        try:
            types = self.by_length[length]
        except KeyError:
            types = self.by_length[length] = _types_pattern(self.types, length)
        return types is not None and types.fullmatch(national) is not None


@dataclass(frozen=True, slots=True)
class _CallingCode:
    """What parse and is_valid_number use for the numbers of one calling code."""

    code: str
    national_prefix: re.Pattern[str] | None
    transforms: bool
    general: re.Pattern[str] | None
    regions: tuple[_Region, ...]  # in phonenumbers' order; the first is the main region


def valid_e164(phone: str) -> str | None:
    """The E.164 form of a valid `+` number, or None when phonenumbers must decide."""
    if len(phone) > _MAX_INPUT_LENGTH or _SHAPE.fullmatch(phone) is None:
        return None
    digits = phone[1:].translate(_SEPARATORS)
    if len(digits) < _MIN_DIGITS or digits[0] == "0":
        return None
    for length in range(1, _MAX_CODE_LENGTH + 1):
        code = _CALLING_CODES.get(digits[:length])
        if code is not None:
            break
    else:
        return None
    national = digits[length:]
    if not _MIN_NATIONAL_LENGTH <= len(national) <= _MAX_NATIONAL_LENGTH:
        return None
    calling_code = _calling_code(code)
    if calling_code is None or _may_strip_national_prefix(calling_code, national):
        return None
    region = _region_for(calling_code.regions, national)
    if region is None or not region.is_valid(national):
        return None
    return f"+{calling_code.code}{national}"


def _may_strip_national_prefix(calling_code: _CallingCode, national: str) -> bool:
    """False when parse's `_maybe_strip_national_prefix_carrier_code` surely keeps `national`.

    parse tries it on international numbers too (+44 0 20 ... becomes +44 20 ...); this
    mirrors the cases where the number comes back unchanged and calls everything else unsure.
    """
    if calling_code.national_prefix is None:
        return False
    match = calling_code.national_prefix.match(national)
    if match is None:
        return False
    groups = match.groups()
    if calling_code.transforms and (not groups or groups[-1] is not None):
        return True
    if match.end() == 0:
        return False
    general = calling_code.general
    if general is None:
        return True
    viable = general.fullmatch(national) is not None
    return not viable or general.fullmatch(national[match.end() :]) is not None


def _region_for(regions: tuple[_Region, ...], national: str) -> _Region | None:
    """The region `region_code_for_number` picks among those sharing a calling code."""
    if len(regions) == 1:
        return regions[0]
    for region in regions:
        if region.leading_digits is not None:
            if region.leading_digits.match(national):
                return region
        elif region.is_valid(national):
            return region
    return None


@cache
def _calling_code(code: int) -> _CallingCode | None:
    """The rules for one calling code from phonenumbers' metadata; None if it lacks any."""
    region_codes = COUNTRY_CODE_TO_REGION_CODE[code]
    main = PhoneMetadata.metadata_for_region_or_calling_code(code, region_codes[0])
    if main is None:
        return None
    if len(region_codes) == 1:
        if region_codes[0] != _NON_GEO_REGION and main.country_code != code:
            return None
        regions: tuple[_Region, ...] = (_region(main, leading=False),)
    else:
        shared = []
        for region_code in region_codes:
            metadata = PhoneMetadata.metadata_for_region(region_code, None)
            if metadata is None:
                continue  # region_code_for_number skips it too
            if metadata.country_code != code:
                return None
            shared.append(_region(metadata, leading=True))
        regions = tuple(shared)
    if not regions:
        return None
    prefix = main.national_prefix_for_parsing
    return _CallingCode(
        code=str(code),
        national_prefix=re.compile(prefix) if prefix else None,
        transforms=bool(main.national_prefix_transform_rule),
        general=_pattern(main.general_desc),
        regions=regions,
    )


def _region(metadata: PhoneMetadata, leading: bool) -> _Region:
    """One region's rules, in the order `_number_type_helper` tries the number types."""
    descs = [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
        metadata.fixed_line,
    ]
    if not metadata.same_mobile_and_fixed_line_pattern:
        descs.append(metadata.mobile)
    types = tuple(
        (frozenset(desc.possible_length) or None, str(desc.national_number_pattern))
        for desc in descs
        if desc is not None and desc.national_number_pattern
    )
    general = metadata.general_desc
    return _Region(
        leading_digits=(
            re.compile(metadata.leading_digits)
            if leading and metadata.leading_digits is not None
            else None
        ),
        general_lengths=frozenset(general.possible_length if general is not None else ()),
        general=_pattern(general),
        types=types,
    )


def _pattern(desc: PhoneNumberDesc | None) -> re.Pattern[str] | None:
    """A number description's national number pattern, compiled; None when it has none."""
    if desc is None or not desc.national_number_pattern:
        return None
    return _compiled(desc.national_number_pattern)


def _types_pattern(
    types: tuple[tuple[frozenset[int] | None, str], ...], length: int
) -> re.Pattern[str] | None:
    """One pattern for the number types a national number of `length` digits can be."""
    sources = [source for lengths, source in types if lengths is None or length in lengths]
    if not sources:
        return None
    return _compiled("|".join(f"(?:{source})" for source in sources))


@cache
def _compiled(source: str) -> re.Pattern[str]:
    """A compiled metadata pattern, shared by the regions that have the same one."""
    return re.compile(source)
