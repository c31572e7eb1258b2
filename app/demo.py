"""Demo data for a first look: a tenant, a user, contacts and sample files to import."""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, CustomField, Segment, Tag, User
from app.tenancy import get_or_create_tenant

DEMO_TENANT = "Demo Marketing"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # nosec B105 # the published login of the local demo

FIRST_NAMES = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Tim",
    "Radia",
    "Guido",
    "Hedy",
    "Edsger",
    "Katherine",
    "Sophie",
    "Jean",
    "Karen",
    "Niklaus",
    "Anita",
    "José",
    "Zoë",
    "Søren",
    "Chloé",
    "Mateo",
    "Aiko",
    "Priya",
]
LAST_NAMES = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Berners-Lee",
    "Perlman",
    "van Rossum",
    "Lamarr",
    "Dijkstra",
    "Johnson",
    "Wilson",
    "Sammet",
    "Spärck Jones",
    "Wirth",
    "Borg",
    "García",
    "Müller",
]
COMPANIES = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Ltd",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka Foods",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Vandelay",
]
CITIES = ["London", "Paris", "Berlin", "Madrid", "Lisbon", "Dublin", "Amsterdam", "Oslo", "Rome"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]
TAGS = ["newsletter", "customer", "vip", "webinar-2026", "trial"]


def _person(rng: random.Random, n: int) -> dict[str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    slug = f"{first}.{last}".lower().replace(" ", "").replace("é", "e").replace("ë", "e")
    slug = slug.replace("ø", "o").replace("ü", "u").replace("ä", "a")
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{slug}{n}@{rng.choice(DOMAINS)}",
        "company": rng.choice(COMPANIES),
        "phone": f"+44 20 7946 {rng.randint(0, 9999):04d}",
        "city": rng.choice(CITIES),
    }


def seed_demo(instance_path: str, contacts: int = 300, seed: int = 42) -> str:
    """Create the demo tenant with contacts, tags, a segment and custom fields, and sample files."""
    rng = random.Random(seed)  # nosec B311 # repeatable demo data, not a secret
    tenant = get_or_create_tenant(DEMO_TENANT)
    user = db.session.scalar(select(User).where(User.email == DEMO_EMAIL))
    if user is None:
        user = User(tenant_id=tenant.id, email=DEMO_EMAIL, name="Demo Marketer", role="admin")
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)

    fields = {
        "city": ("City", "text"),
        "signup_date": ("Signup date", "date"),
        "lifetime_value": ("Lifetime value", "number"),
    }
    for key, (label, kind) in fields.items():
        exists = db.session.scalar(
            select(CustomField).where(CustomField.tenant_id == tenant.id, CustomField.key == key)
        )
        if not exists:
            db.session.add(CustomField(tenant_id=tenant.id, key=key, label=label, field_type=kind))

    tags = {}
    for name in TAGS:
        tag = db.session.scalar(
            select(Tag).where(Tag.tenant_id == tenant.id, Tag.name_normalized == name)
        )
        tags[name] = tag or Tag(tenant_id=tenant.id, name=name, name_normalized=name)
    segment = db.session.scalar(
        select(Segment).where(Segment.tenant_id == tenant.id, Segment.name == "Warm leads")
    ) or Segment(tenant_id=tenant.id, name="Warm leads")
    db.session.add_all([*tags.values(), segment])

    existing = set(
        db.session.scalars(select(Contact.email_normalized).where(Contact.tenant_id == tenant.id))
    )
    now = datetime.now(UTC)
    people = []
    for n in range(contacts):
        p = _person(rng, n)
        people.append(p)
        if p["email"] in existing:
            continue
        contact = Contact(
            tenant_id=tenant.id,
            email=p["email"],
            email_normalized=p["email"].lower(),
            first_name=p["first_name"],
            last_name=p["last_name"],
            company=p["company"],
            phone=p["phone"].replace(" ", ""),
            custom_fields={
                "city": p["city"],
                "signup_date": (date(2025, 1, 1) + timedelta(days=rng.randint(0, 600))).isoformat(),
                "lifetime_value": rng.randint(0, 5000),
            },
            subscription_status=rng.choices(
                ["subscribed", "unsubscribed", "bounced"], weights=[90, 8, 2]
            )[0],
            emails_opened=rng.randint(0, 40),
            emails_clicked=rng.randint(0, 10),
            last_engaged_at=now - timedelta(days=rng.randint(0, 200)),
            created_at=now - timedelta(days=rng.randint(1, 400)),
        )
        contact.tags = rng.sample(list(tags.values()), k=rng.randint(0, 2))
        if rng.random() < 0.3:
            contact.segments = [segment]
        db.session.add(contact)
    db.session.commit()
    samples = write_sample_files(Path(instance_path) / "samples", people, rng)
    return (
        f"Demo tenant {DEMO_TENANT!r} has {contacts} contacts; sample files to import: "
        + ", ".join(str(p) for p in samples)
    )


def write_sample_files(
    folder: Path, people: list[dict[str, str]], rng: random.Random
) -> list[Path]:
    """Write sample CSV, XLSX and JSON files with realistic headers and a few problems to fix."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in range(200):
        p = rng.choice(people) if n % 10 == 0 else _person(rng, 1000 + n)  # some already exist
        rows.append(p)
    rows[7] = {**rows[7], "email": "not-an-email"}
    rows[19] = {**rows[19], "email": rows[19]["email"].replace("example.com", "gamil.com")}

    csv_path = folder / "leads.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "E-mail Address",
                "Given Name",
                "Surname",
                "Organization",
                "Mobile Phone",
                "Town",
                "Tags",
            ]
        )
        for p in rows:
            writer.writerow(
                [
                    p["email"],
                    p["first_name"],
                    p["last_name"],
                    p["company"],
                    p["phone"],
                    p["city"],
                    "leads; spring-campaign",
                ]
            )

    xlsx_path = folder / "event-attendees.xlsx"
    wb = Workbook()
    notes = wb.active
    notes.title = "Read me"
    notes.append(["This workbook has the attendees on the second sheet."])
    sheet = wb.create_sheet("Attendees")
    sheet.append(["Email", "First Name", "Last Name", "Company Name", "Phone", "Attended on"])
    for n in range(120):
        p = _person(rng, 2000 + n)
        sheet.append(
            [
                p["email"],
                p["first_name"],
                p["last_name"],
                p["company"],
                f"07911 {123000 + n}",
                date(2026, 10, rng.randint(1, 28)),
            ]
        )
    wb.save(xlsx_path)

    json_path = folder / "crm-export.json"
    records = []
    for n in range(80):
        p = _person(rng, 3000 + n)
        records.append(
            {
                "email": p["email"],
                "firstName": p["first_name"],
                "lastName": p["last_name"],
                "company": {"name": p["company"]},
                "tags": ["crm", rng.choice(TAGS)],
            }
        )
    json_path.write_text(json.dumps(records, indent=2, ensure_ascii=False), encoding="utf-8")
    return [csv_path, xlsx_path, json_path]
