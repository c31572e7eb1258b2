"""Phone validation cost: `python -m benchmarks.phone_bench --numbers 100000`.

Builds valid numbers from phonenumbers' example numbers (last digits changed at random, fixed
seed, kept only if phonenumbers calls them valid), half written in E.164 and half as
phonenumbers writes them internationally (`+44 20 7946 0958`): one set of every region, one of
GB only (like the import benchmark's file). Then, for each set, in one process and interleaved
chunk by chunk (so a busy machine slows all of them alike), it times with `time.process_time`:
phonenumbers' parse + is_valid_number + E.164 formatting; the fast path with its fallback to
that (what `RowValidator` does); and `RowValidator.validate` on an email + phone row with
phone validation on (default region GB), with and without the fast path. It prints CPU µs per
number, the machine and the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections.abc import Callable

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from app.imports import validation
from app.imports.mapping import parse_target
from app.imports.phones import valid_e164
from app.imports.validation import CleanRow, RowValidator, ValidationOptions

REGION = "GB"


def valid_numbers(count: int, region: str | None = None, seed: int = 7) -> tuple[list[str], int]:
    """`count` valid mobile and fixed-line `+` numbers of one or every region; how many regions."""
    rng = random.Random(seed)
    examples = [
        number
        for code in ([region] if region else sorted(phonenumbers.SUPPORTED_REGIONS))
        for number_type in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE)
        if (number := phonenumbers.example_number_for_type(code, number_type)) is not None
    ]
    numbers: list[str] = []
    regions: set[str] = set()
    while len(numbers) < count:
        example = rng.choice(examples)
        national = phonenumbers.national_significant_number(example)
        kept = max(1, len(national) - rng.randrange(1, 5))
        national = national[:kept] + "".join(rng.choices("0123456789", k=len(national) - kept))
        number = phonenumbers.parse(f"+{example.country_code}{national}")
        if phonenumbers.is_valid_number(number):
            style = PhoneNumberFormat.E164 if len(numbers) % 2 else PhoneNumberFormat.INTERNATIONAL
            numbers.append(phonenumbers.format_number(number, style))
            regions.add(str(phonenumbers.region_code_for_number(number)))
    return numbers, len(regions)


def full_parse(phone: str) -> str | None:
    """phonenumbers alone: what `RowValidator` did for every validated phone before."""
    parsed = phonenumbers.parse(phone, REGION)
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


def fast_path(phone: str) -> str | None:
    """The fast path, falling back to phonenumbers when it does not answer."""
    return valid_e164(phone) or full_parse(phone)


def row_validator() -> RowValidator:
    """A validator for an email + phone file, phone validation on."""
    mapping = {"Email": "email", "Phone": "phone"}
    targets = {header: parse_target(target) for header, target in mapping.items()}
    options = ValidationOptions(validate_phone=True, default_region=REGION)
    return RowValidator(list(mapping), targets, {}, options)


def measure(phones: list[str], chunk_size: int) -> dict[str, float]:
    """CPU µs per number of each way, timed chunk by chunk in turns."""
    rows = [[f"person{n}@example{n % 97}.com", phone] for n, phone in enumerate(phones)]
    expected = [full_parse(phone) for phone in phones]
    assert [fast_path(phone) for phone in phones] == expected  # nosec B101
    validator = row_validator()
    assert all(isinstance(validator.validate(n, row), CleanRow) for n, row in enumerate(rows))  # nosec B101

    def rows_with_fast_path(chunk: range) -> None:
        for n in chunk:
            validator.validate(n, rows[n])

    def rows_without_fast_path(chunk: range) -> None:
        validation.valid_e164 = lambda phone: None  # type: ignore[assignment]
        try:
            for n in chunk:
                validator.validate(n, rows[n])
        finally:
            validation.valid_e164 = valid_e164

    def numbers_with(check: Callable[[str], str | None]) -> Callable[[range], None]:
        def run(chunk: range) -> None:
            for n in chunk:
                check(phones[n])

        return run

    measured: dict[str, Callable[[range], None]] = {
        "phonenumbers parse + is_valid_number + format": numbers_with(full_parse),
        "fast path (falls back to phonenumbers)": numbers_with(fast_path),
        "RowValidator.validate, email + phone, before": rows_without_fast_path,
        "RowValidator.validate, email + phone, fast path": rows_with_fast_path,
    }
    spent = dict.fromkeys(measured, 0.0)
    names = list(measured)
    for turn, start in enumerate(range(0, len(phones), chunk_size)):
        chunk = range(start, min(start + chunk_size, len(phones)))
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            before = time.process_time()
            measured[name](chunk)
            spent[name] += time.process_time() - before
    return {name: seconds / len(phones) * 1e6 for name, seconds in spent.items()}


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    args = parser.parse_args()
    print(
        f"nproc={os.cpu_count()}; Python {platform.python_version()}; "
        f"phonenumbers {phonenumbers.__version__}; load before: {os.getloadavg()}"
    )
    sets = {"every region": None, "GB only": "GB"}
    for title, region in sets.items():
        phones, regions = valid_numbers(args.numbers, region)
        fallbacks = sum(valid_e164(phone) is None for phone in phones)
        print(
            f"{title}: {len(phones):,} valid numbers of {regions} regions, half E.164, "
            f"half spaced; the fast path fell back for {fallbacks:,}"
        )
        for name, micros in measure(phones, args.chunk).items():
            print(f"  {name:50s} {micros:6.1f} µs per number")
        print(f"  load now: {os.getloadavg()}")


if __name__ == "__main__":
    main()
