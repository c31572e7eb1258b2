"""Deterministic benchmark files: contacts CSV/XLSX with in-file duplicates and invalid emails."""

from __future__ import annotations

import csv
import random
from pathlib import Path

HEADER = [
    "Email",
    "First Name",
    "Last Name",
    "Company",
    "Phone",
    "City",
    "ZIP",
    "Signup Date",
    "Score",
    "Tags",
]
FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka"]
CITIES = ["London", "Paris", "Berlin", "Madrid", "Lisbon", "Dublin", "Amsterdam", "Oslo"]
TAGS = ["newsletter", "customer", "vip", "webinar", "trial", ""]


def email_for(n: int) -> str:
    """The n-th email of the benchmark population."""
    return f"person{n}@example{n % 97}.com"


def rows(count: int, seed: int = 42) -> list[list[str]] | object:
    """Yield `count` data rows: 2% repeat an earlier email, 1% have an invalid email."""
    rng = random.Random(seed)
    for i in range(count):
        r = rng.random()
        if r < 0.02 and i > 10:
            n = rng.randrange(0, i)
            email = email_for(n).upper()
        elif r < 0.03:
            email = f"broken-{i}-at-example.com"
        else:
            email = email_for(i)
        yield [
            email,
            rng.choice(FIRST),
            rng.choice(LAST),
            rng.choice(COMPANIES),
            f"+44 20 7946 {rng.randrange(10000):04d}",
            rng.choice(CITIES),
            f"{rng.randrange(100000):05d}",
            f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            str(rng.randrange(0, 1000)),
            rng.choice(TAGS),
        ]


def write_csv(path: Path, count: int, seed: int = 42) -> Path:
    """Write the benchmark CSV."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows(count, seed))
    return path


def write_xlsx(path: Path, count: int, seed: int = 42) -> Path:
    """Write the benchmark workbook (openpyxl write-only)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    sheet = wb.create_sheet("Contacts")
    sheet.append(HEADER)
    for row in rows(count, seed):
        sheet.append(row)
    wb.save(path)
    return path


MAPPING = {
    "Email": "email",
    "First Name": "first_name",
    "Last Name": "last_name",
    "Company": "company",
    "Phone": "phone",
    "City": "city:text",
    "ZIP": "zip:text",
    "Signup Date": "signup_date:date",
    "Score": "score:number",
    "Tags": "tags",
}
