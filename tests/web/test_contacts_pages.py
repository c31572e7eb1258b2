"""The contacts list and the contact page."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from app.extensions import db
from app.models import Contact, Tag, Tenant, User


def add_contact(tenant: Tenant, email: str, **fields: object) -> Contact:
    contact = Contact(tenant_id=tenant.id, email=email, email_normalized=email.lower(), **fields)
    db.session.add(contact)
    db.session.commit()
    return contact


def test_contacts_list_shows_count_and_rows(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "Ada@Example.com", first_name="Ada")
    add_contact(tenant, "grace@example.com", first_name="Grace")
    page = client.get("/contacts/").get_data(as_text=True)
    assert '<span id="contacts-total">2</span>' in page
    assert "Ada@Example.com" in page and "grace@example.com" in page


def test_contacts_search_filters_by_name(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "ada@example.com", first_name="Ada")
    add_contact(tenant, "grace@example.com", first_name="Grace")
    page = client.get("/contacts/?q=grac").get_data(as_text=True)
    assert "grace@example.com" in page and "ada@example.com" not in page


def test_contacts_tag_filter(client: FlaskClient, signed_in: User, tenant: Tenant) -> None:
    vip = Tag(tenant_id=tenant.id, name="VIP", name_normalized="vip")
    contact = add_contact(tenant, "ada@example.com")
    contact.tags = [vip]
    add_contact(tenant, "grace@example.com")
    db.session.commit()
    page = client.get("/contacts/?tag=vip").get_data(as_text=True)
    assert "ada@example.com" in page and "grace@example.com" not in page


def test_pages_of_a_search_keep_the_search(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    db.session.add_all(
        Contact(tenant_id=tenant.id, email=e, email_normalized=e, first_name="Ada")
        for e in (f"ada{n:02d}@example.com" for n in range(51))
    )
    add_contact(tenant, "grace@example.com", first_name="Grace")
    first = client.get("/contacts/?q=ada").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Previous" not in first
    assert '<a href="/contacts/?page=2&amp;q=ada">Next &rarr;</a>' in first
    second = client.get("/contacts/?q=ada&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and "Next" not in second
    assert '<a href="/contacts/?page=1&amp;q=ada">&larr; Previous</a>' in second


def test_htmx_search_gets_only_the_table(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "ada@example.com")
    page = client.get("/contacts/?q=ada", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in page and "ada@example.com" in page


def test_contact_page_escapes_html_from_imported_values(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    contact = add_contact(tenant, "x@example.com", first_name="<script>alert(1)</script>")
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_unknown_or_malformed_contact_id_is_404(client: FlaskClient, signed_in: User) -> None:
    assert client.get("/contacts/not-a-uuid").status_code == 404
    assert client.get("/contacts/00000000-0000-0000-0000-000000000000").status_code == 404


def test_segments_page_lists_sizes_and_links_each_segment_to_its_export(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    from app.models import Segment

    segment = Segment(tenant_id=tenant.id, name="Warm leads")
    empty = Segment(tenant_id=tenant.id, name="Empty one")
    add_contact(tenant, "a@example.com").segments = [segment]
    db.session.add(empty)
    db.session.commit()
    page = client.get("/contacts/segments").get_data(as_text=True)
    assert "Warm leads" in page and "Empty one" in page
    assert f'href="/exports/new?segment={segment.id}"' in page
    assert "<td>1</td>" in page and "<td>0</td>" in page
    form = client.get(f"/exports/new?segment={segment.id}").get_data(as_text=True)
    option = re.search(rf'<option[^>]*value="{segment.id}"[^>]*>', form)
    assert option and "selected" in option.group(0)


def test_contacts_page_links_to_segments(client: FlaskClient, signed_in: User) -> None:
    assert 'href="/contacts/segments"' in client.get("/contacts/").get_data(as_text=True)


def test_contacts_search_takes_wildcards_and_backslashes_literally(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "ada@example.com", first_name="Ada", company="Analytical")
    add_contact(tenant, "grace_h@example.com", first_name="Grace")
    add_contact(tenant, "alan@example.com", company="100% Turing")
    add_contact(tenant, "edsger@example.com", last_name="Dijk\\stra")

    for q, only in (("%", "alan@"), ("_", "grace_h@"), ("\\", "edsger@")):
        page = client.get("/contacts/", query_string={"q": q}).get_data(as_text=True)

        assert '<span id="contacts-total">1</span>' in page, q
        assert only in page, q
        assert "ada@example.com" not in page, q


def test_a_page_past_the_end_shows_the_last_page(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    db.session.add_all(
        Contact(tenant_id=tenant.id, email=e, email_normalized=e)
        for e in (f"ada{n:02d}@example.com" for n in range(51))
    )
    db.session.commit()
    last = re.findall(r">(ada\d\d@example\.com)</a>", client.get("/contacts/?page=2").text)
    assert len(last) == 1

    for page in ("3", "9223372036854775807", "9" * 40):
        response = client.get(f"/contacts/?page={page}")

        assert response.status_code == 200, page
        assert "Page 2 of 2" in response.text, page
        assert re.findall(r">(ada\d\d@example\.com)</a>", response.text) == last, page


def test_a_huge_page_of_no_contacts_is_the_empty_list(client: FlaskClient, signed_in: User) -> None:
    response = client.get("/contacts/?page=9223372036854775807&q=nobody")

    assert response.status_code == 200
    assert "No contact matches this search." in response.get_data(as_text=True)
