"""The fast phone check says what phonenumbers' parse + is_valid_number say, or nothing."""

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from app.imports import validation
from app.imports.mapping import parse_target
from app.imports.phones import valid_e164
from app.imports.validation import CleanRow, RowError, RowValidator, ValidationOptions

NUMBER_TYPES = [
    value for name, value in vars(PhoneNumberType).items() if name.isupper() and name != "UNKNOWN"
]
CALLING_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def reference(phone: str, region: str | None = None) -> str | None:
    """What the validator's full path stores for a valid phone; None when it is an error."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    return f"{e164} ext. {parsed.extension}" if parsed.extension else e164


def disagreements(phones: list[str], region: str | None = None) -> list[str]:
    """Phones the fast path answers differently from phonenumbers (None means 'ask it')."""
    found = []
    for phone in phones:
        fast = valid_e164(phone)
        if fast is not None and fast != reference(phone, region):
            found.append(f"{phone!r}: fast {fast!r}, phonenumbers {reference(phone, region)!r}")
    return found


def report(found: list[str], checked: int) -> str:
    """An assertion message listing the disagreements."""
    return f"{len(found)} of {checked} disagree:\n" + "\n".join(found[:50])


def example_numbers() -> list[phonenumbers.PhoneNumber]:
    """Every example number phonenumbers has: each region and number type, and non-geographic."""
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in NUMBER_TYPES:
            number = phonenumbers.example_number_for_type(region, number_type)
            if number is not None:
                numbers.append(number)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            numbers.append(number)
    return numbers


def written(number: phonenumbers.PhoneNumber) -> list[str]:
    """A number as E.164, as phonenumbers writes it internationally, and with plain spaces."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = e164[1 + len(str(number.country_code)) :]
    spaced = f"+{number.country_code} " + " ".join(
        national[i : i + 3] for i in range(0, len(national), 3)
    )
    return [e164, international, spaced]


def styled(rng: random.Random, code: int, national: str) -> str:
    """A `+` number in one of the ways people type them."""
    style = rng.randrange(8)
    if style == 0:
        return f"+{code}{national}"
    cut = rng.randrange(1, max(2, len(national)))
    head, tail = national[:cut], national[cut:]
    tail_groups = [tail[i : i + rng.choice((2, 3, 4))] for i in range(0, len(tail), 3)]
    if style == 1:
        return f"+{code} {head} {' '.join(tail_groups)}".rstrip()
    if style == 2:
        return f"+{code}-{head}-{'-'.join(tail_groups)}".rstrip("-")
    if style == 3:
        return f"+{code}.{head}.{'.'.join(tail_groups)}".rstrip(".")
    if style == 4:
        return f"+{code} ({head}) {tail}".rstrip()
    if style == 5:
        return f"+({code}) {head}-{tail}"
    if style == 6:
        return f"+ {code} {national} "
    return f"+{code}{head}-{tail}-"


def generated_numbers(seed: int = 12) -> tuple[list[str], list[str]]:
    """Numbers of every calling code and of 4 to 17 digits after it, many of them valid.

    Per code and length: random digits, and an example number's leading digits filled up at
    random. Per example number: its last digits changed at random (valid more often than
    not). Returns those, and the same after a 0, 1 or 8: national prefixes that parse may
    strip from `+` numbers, or a leading 0 that Italian numbers keep.
    """
    rng = random.Random(seed)
    examples: dict[int, list[str]] = {}
    for number in example_numbers():
        national = phonenumbers.national_significant_number(number)
        examples.setdefault(number.country_code, []).append(national)
    nationals: list[tuple[int, str]] = []
    for code in CALLING_CODES:
        starts = examples.get(code, ["0"])
        for length in range(4, 18):
            nationals.append((code, str(rng.randrange(10**length)).zfill(length)))
            for _ in range(2):
                start = rng.choice(starts)[: rng.randrange(1, length)]
                nationals.append((code, start + random_digits(rng, length - len(start))))
        for example in examples.get(code, []):
            for _ in range(10):
                kept = rng.randrange(1, len(example))
                nationals.append((code, example[:kept] + random_digits(rng, len(example) - kept)))
    plain = [styled(rng, code, national) for code, national in nationals]
    prefixed = [styled(rng, code, rng.choice("0018") + national) for code, national in nationals]
    return plain, prefixed


def random_digits(rng: random.Random, count: int) -> str:
    """`count` random decimal digits."""
    return "".join(rng.choices("0123456789", k=count))


def test_every_example_number_of_every_region_and_type_gets_phonenumbers_answer():
    phones = [phone for number in example_numbers() for phone in written(number)]
    found = disagreements(phones)
    assert not found, report(found, len(phones))


def test_the_default_region_does_not_change_the_answer_for_plus_numbers():
    phones = [written(number)[0] for number in example_numbers()]
    for region in ("GB", "US", "IT", "AR"):
        found = disagreements(phones, region)
        assert not found, report(found, len(phones))


def test_the_fast_path_answers_for_nearly_every_valid_example_number():
    phones = [phone for number in example_numbers() for phone in written(number)]
    valid = [phone for phone in phones if reference(phone) is not None]
    answered = [phone for phone in valid if valid_e164(phone) is not None]
    assert len(answered) >= 0.95 * len(valid), (len(answered), len(valid))


def test_generated_numbers_of_every_calling_code_and_length_get_phonenumbers_answer():
    plain, prefixed = generated_numbers()
    phones = plain + prefixed
    answers = [(valid_e164(phone), reference(phone)) for phone in phones]
    found = [
        f"{phone!r}: fast {fast!r}, phonenumbers {full!r}"
        for phone, (fast, full) in zip(phones, answers, strict=True)
        if fast is not None and fast != full
    ]
    assert not found, report(found, len(phones))
    # valid and invalid numbers are both plentiful, and the fast path answers for nearly every
    # valid number written without a national prefix
    valid = sum(full is not None for _, full in answers)
    assert 0.2 * len(phones) < valid < 0.8 * len(phones), (valid, len(phones))
    plain_valid = sum(full is not None for _, full in answers[: len(plain)])
    plain_answered = sum(fast is not None for fast, _ in answers[: len(plain)])
    assert plain_answered >= 0.95 * plain_valid, (plain_answered, plain_valid)


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958 ext. 12",
        "+44 20 7946 0958 #12",
        "+44 (0) 20 7946 0958",
        "+4402079460958",
        "＋44 20 7946 0958",
        "+44 20 7946 ０958",
        "+44/20/7946/0958",
        "tel:+44-20-7946-0958;phone-context=+44",
        "+0 20 7946 0958",
        "+28 20 7946 0958",
        "+44",
        "+1 800 FLOWERS",
        "++44 20 7946 0958",
        "+" + "4" * 300,
    ],
)
def test_what_the_fast_path_is_unsure_of_is_left_to_phonenumbers(phone):
    assert valid_e164(phone) is None


def row_results(phones: list[str], region: str | None) -> list[object]:
    """What a validating RowValidator makes of a row with each phone."""
    mapping = {"Email": "email", "Mobile": "phone"}
    validator = RowValidator(
        list(mapping),
        {header: parse_target(target) for header, target in mapping.items()},
        {},
        ValidationOptions(validate_phone=True, default_region=region),
    )
    return [validator.validate(2, ["a@example.com", phone]) for phone in phones]


@pytest.mark.parametrize("region", [None, "GB"])
def test_rows_with_plus_numbers_come_out_as_they_did_with_the_full_parse_only(region, monkeypatch):
    phones = [written(number)[1] for number in example_numbers()]
    phones += [phone for kind in generated_numbers(seed=3) for phone in kind[::10]]
    with_fast_path = row_results(phones, region)
    monkeypatch.setattr(validation, "valid_e164", lambda phone: None)
    assert row_results(phones, region) == with_fast_path
    valid = sum(isinstance(result, CleanRow) for result in with_fast_path)
    assert 0 < valid < len(phones)


def test_a_valid_plus_number_is_stored_in_e164_and_an_invalid_one_is_the_usual_error():
    (ok, bad, prefixed) = row_results(
        ["+44 20 7946 0958", "+44 20 7946 095", "+44 (0) 20 7946 0958"], region=None
    )
    assert ok.fields["phone"] == "+442079460958"
    assert bad == [
        RowError(
            row=2,
            column="Mobile",
            value="+44 20 7946 095",
            message="'+44 20 7946 095' in column 'Mobile' is not a valid phone number: include "
            "the country code, e.g. +44 20 7946 0958, or choose a default country.",
        )
    ]
    assert prefixed.fields["phone"] == "+442079460958"
