"""Field targets, mapping checks and mapping suggestions."""

import pytest

from app.imports.header_spellings import ALIASES, normalize_header
from app.imports.mapping import (
    CUSTOM_FIELD_TYPES,
    STANDARD_FIELDS,
    FieldTarget,
    MappingError,
    check_mapping,
    parse_target,
    suggest_mapping,
    target_to_spec,
)

EMAIL = FieldTarget("standard", "email")
IGNORE = FieldTarget("ignore")


def suggestion_for(header: str, **kwargs: object):
    """The suggestion for a file with this one header."""
    (suggestion,) = suggest_mapping([header], **kwargs)
    return suggestion


def test_standard_fields_are_the_contact_fields_with_their_labels():
    assert STANDARD_FIELDS == {
        "email": "Email",
        "first_name": "First name",
        "last_name": "Last name",
        "company": "Company",
        "phone": "Phone",
        "subscription_status": "Subscription status",
        "consented_on": "Consent date",
        "unsubscribed_on": "Unsubscribe date",
    }
    assert CUSTOM_FIELD_TYPES == ("text", "number", "date", "boolean")


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        ("email", EMAIL),
        ("first_name", FieldTarget("standard", "first_name")),
        (" Phone ", FieldTarget("standard", "phone")),
        ("tags", FieldTarget("tags")),
        ("", IGNORE),
        ("ignore", IGNORE),
        ("zip:text", FieldTarget("custom", "zip", "text")),
        ("signup_date:date", FieldTarget("custom", "signup_date", "date")),
        ("custom:zip", FieldTarget("custom", "zip")),
        ("custom:score:number", FieldTarget("custom", "score", "number")),
        ("zip", FieldTarget("custom", "zip")),
        ("VIP", FieldTarget("custom", "vip")),
    ],
)
def test_parse_target_reads_every_kind_of_spec(spec, target):
    assert parse_target(spec) == target


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("2fast", "'2fast' is not a valid custom field key: use lowercase letters, digits and"),
        ("zip code", "'zip code' is not a valid custom field key"),
        ("custom:", "'' is not a valid custom field key"),
        ("a" * 65, f"'{'a' * 65}' is not a valid custom field key"),
        ("zip:colour", "Custom field 'zip' has the unknown type 'colour': choose text, number,"),
        ("custom:email", "'email' is a built-in target, so it cannot be a custom field key."),
    ],
)
def test_parse_target_rejects_bad_specs_with_a_clear_message(spec, message):
    with pytest.raises(MappingError) as raised:
        parse_target(spec)
    assert raised.value.problems[0].startswith(message)


def test_custom_keys_may_be_64_characters_long():
    assert parse_target("a" * 64) == FieldTarget("custom", "a" * 64)


@pytest.mark.parametrize(
    ("target", "spec"),
    [
        (EMAIL, "email"),
        (FieldTarget("tags"), "tags"),
        (IGNORE, "ignore"),
        (FieldTarget("custom", "zip"), "custom:zip"),
        (FieldTarget("custom", "zip", "text"), "zip:text"),
    ],
)
def test_target_to_spec_writes_what_parse_target_reads_back(target, spec):
    assert target_to_spec(target) == spec
    assert parse_target(spec) == target


def test_check_mapping_accepts_a_complete_mapping_with_several_tag_columns():
    headers = ["Email", "Tags", "Labels", "Notes"]
    mapping = {
        "Email": EMAIL,
        "Tags": FieldTarget("tags"),
        "Labels": FieldTarget("tags"),
        "Notes": IGNORE,
    }
    assert check_mapping(mapping, headers) is None


def test_check_mapping_insists_on_an_email_column():
    with pytest.raises(MappingError) as raised:
        check_mapping({"Name": FieldTarget("standard", "first_name")}, ["Name"])
    assert raised.value.problems == ["Map a column to Email: every contact needs an email address."]


def test_check_mapping_names_both_columns_mapped_to_one_field():
    headers = ["Email", "E-mail 2"]
    with pytest.raises(MappingError) as raised:
        check_mapping({"Email": EMAIL, "E-mail 2": EMAIL}, headers)
    assert raised.value.problems == [
        "'Email' and 'E-mail 2' are both mapped to Email: "
        "keep one and set the other to Don't import."
    ]


def test_check_mapping_names_three_columns_mapped_to_one_custom_field():
    zip_code = FieldTarget("custom", "zip")
    headers = ["Email", "Zip", "Postcode", "ZIP code"]
    mapping = {"Email": EMAIL, "Zip": zip_code, "Postcode": zip_code, "ZIP code": zip_code}
    with pytest.raises(MappingError) as raised:
        check_mapping(mapping, headers)
    assert raised.value.problems == [
        "'Zip', 'Postcode' and 'ZIP code' are all mapped to custom field 'zip': "
        "keep one and set the others to Don't import."
    ]


def test_check_mapping_lists_every_problem_at_once():
    mapping = {
        "Phone": FieldTarget("standard", "phone"),
        "Mobile": FieldTarget("standard", "phone"),
        "Fax": FieldTarget("custom", "fax", "colour"),
        "Ghost": IGNORE,
    }
    with pytest.raises(MappingError) as raised:
        check_mapping(mapping, ["Phone", "Mobile"])
    assert raised.value.problems == [
        "Map a column to Email: every contact needs an email address.",
        "'Phone' and 'Mobile' are both mapped to Phone: "
        "keep one and set the other to Don't import.",
        "'Fax' is not a column in this file: map one of the file's columns instead.",
        "Custom field 'fax' has the unknown type 'colour': choose text, number, date or boolean.",
    ]
    assert str(raised.value) == "\n".join(raised.value.problems)


def test_check_mapping_refuses_a_mapped_header_the_file_has_twice():
    with pytest.raises(MappingError) as raised:
        check_mapping({"Email": EMAIL}, ["Email", "Email"])
    assert raised.value.problems == [
        "The file has 2 columns named 'Email': rename them so each column has its own name."
    ]


@pytest.mark.parametrize(
    ("header", "normalized"),
    [
        ("  E-mail 1 - Value ", "e mail 1 value"),
        ("email_address", "email address"),
        ("First.Name", "first name"),
        ("Phone (mobile)", "phone mobile"),
        ("ＥＭＡＩＬ", "email"),
        ("\ufeffStraße", "strasse"),
        ("Manager's Name", "managers name"),
        ("---", ""),
    ],
)
def test_normalize_header_folds_case_width_separators_and_punctuation(header, normalized):
    assert normalize_header(header) == normalized


def test_aliases_are_distinct_after_normalizing_and_never_shadow_a_field_label():
    normalized = [normalize_header(alias) for alias in ALIASES]
    labels = {normalize_header(label) for label in STANDARD_FIELDS.values()} | {"tags"}
    assert len(set(normalized)) == len(ALIASES)
    assert not labels & set(normalized)


@pytest.mark.parametrize(
    ("header", "spec", "detail"),
    [
        ("E-mail Address", "email", "Matches the alias 'E-mail Address' (Outlook)"),
        ("E-mail 1 - Value", "email", "Matches the alias 'E-mail 1 - Value' (Google Contacts)"),
        ("Email Address", "email", "Matches the alias 'Email Address' (Mailchimp, LinkedIn)"),
        ("email_address", "email", "Matches the alias 'Email Address' (Mailchimp, LinkedIn)"),
        ("Given Name", "first_name", "Matches the alias 'Given Name' (Google Contacts)"),
        ("Family Name", "last_name", "Matches the alias 'Family Name' (Google Contacts)"),
        ("surname", "last_name", "Matches the alias 'Surname' (common spelling)"),
        ("Account Name", "company", "Matches the alias 'Account Name' (Salesforce)"),
        ("Company Name", "company", "Matches the alias 'Company Name' (HubSpot)"),
        (
            "Organization 1 - Name",
            "company",
            "Matches the alias 'Organization 1 - Name' (Google Contacts)",
        ),
        ("Mobile Phone", "phone", "Matches the alias 'Mobile Phone' (Outlook)"),
        ("Mobile Phone Number", "phone", "Matches the alias 'Mobile Phone Number' (HubSpot)"),
        ("Mobile", "phone", "Matches the alias 'Mobile' (Salesforce)"),
        ("tel", "phone", "Matches the alias 'Tel' (common abbreviation)"),
        ("Group Membership", "tags", "Matches the alias 'Group Membership' (Google Contacts)"),
    ],
)
def test_headers_from_real_exports_match_an_alias_naming_the_app(header, spec, detail):
    suggestion = suggestion_for(header)
    assert (suggestion.target, suggestion.reason, suggestion.score) == (
        parse_target(spec),
        "alias",
        100.0,
    )
    assert suggestion.detail == detail


@pytest.mark.parametrize(
    ("header", "spec"),
    [
        ("Email", "email"),
        ("first_name", "first_name"),
        ("LAST NAME", "last_name"),
        ("TAGS", "tags"),
    ],
)
def test_headers_equal_to_a_field_key_or_label_match_exactly(header, spec):
    suggestion = suggestion_for(header)
    assert (suggestion.target, suggestion.reason, suggestion.score) == (
        parse_target(spec),
        "exact",
        100.0,
    )


def test_headers_equal_to_a_custom_field_key_or_label_match_that_field():
    custom = {"zip": "Postcode", "signup_date": "Signed up"}
    suggestions = suggest_mapping(["ZIP", "Signed-Up"], custom_fields=custom)
    assert [(s.target, s.reason) for s in suggestions] == [
        (FieldTarget("custom", "zip"), "exact"),
        (FieldTarget("custom", "signup_date"), "exact"),
    ]
    assert suggestions[1].detail == "Matches the custom field 'Signed up'"


@pytest.mark.parametrize(
    ("header", "spec"),
    [
        ("Emial", "email"),
        ("Frist Name", "first_name"),
        ("Last Nmae", "last_name"),
        ("Compnay", "company"),
        ("Phone Nubmer", "phone"),
        ("Emailaddress", "email"),
        ("Name First", "first_name"),
    ],
)
def test_typos_of_field_names_are_suggested_as_fuzzy_matches(header, spec):
    suggestion = suggestion_for(header)
    assert (suggestion.target, suggestion.reason) == (parse_target(spec), "fuzzy")
    assert 82 <= suggestion.score < 100


def test_a_fuzzy_match_says_what_it_looks_like_and_how_similar():
    suggestion = suggestion_for("Frist Name")
    assert suggestion.detail == "Looks like 'First name' (95% similar)"


@pytest.mark.parametrize(
    "header",
    ["Notes", "Name", "Business Fax", "Title", "Nickname", "Favourite colour"],
)
def test_unrelated_headers_get_no_suggestion(header):
    suggestion = suggestion_for(header)
    assert (suggestion.target, suggestion.reason, suggestion.score) == (IGNORE, "none", 0.0)
    assert suggestion.detail.startswith("No field looks like this column")


def test_a_custom_field_label_can_be_matched_fuzzily():
    suggestion = suggestion_for("Postcdoe", custom_fields={"zip": "Postcode"})
    assert (suggestion.target, suggestion.reason) == (FieldTarget("custom", "zip"), "fuzzy")


def test_a_higher_fuzzy_threshold_turns_a_typo_into_no_suggestion():
    assert suggestion_for("Emial", fuzzy_threshold=95).reason == "none"


def test_remembered_mapping_wins_over_an_exact_match():
    suggestion = suggestion_for(
        "Company",
        custom_fields={"employer": "Employer"},
        remembered={"company": "custom:employer"},
    )
    assert (suggestion.target, suggestion.reason, suggestion.score) == (
        FieldTarget("custom", "employer"),
        "remembered",
        100.0,
    )
    assert suggestion.detail == "You mapped this header the same way last time"


def test_remembered_headers_are_compared_normalized():
    suggestion = suggestion_for("E-MAIL ADDRESS", remembered={"e-mail address": "email"})
    assert (suggestion.target, suggestion.reason) == (EMAIL, "remembered")


def test_remembered_dont_import_stops_a_fuzzy_suggestion():
    suggestion = suggestion_for("Emial", remembered={"emial": "ignore"})
    assert (suggestion.target, suggestion.reason) == (IGNORE, "remembered")
    assert suggestion.detail == "You chose Don't import for this header last time"


def test_a_custom_field_created_last_time_is_remembered_as_the_existing_field():
    suggestion = suggestion_for(
        "Plan", custom_fields={"plan": "Plan"}, remembered={"plan": "plan:text"}
    )
    assert (suggestion.target, suggestion.reason) == (FieldTarget("custom", "plan"), "remembered")


def test_a_remembered_custom_field_that_was_deleted_is_not_suggested():
    suggestion = suggestion_for("Emial", remembered={"emial": "custom:old_email"})
    assert (suggestion.target, suggestion.reason) == (EMAIL, "fuzzy")


def test_one_field_is_never_suggested_for_two_headers():
    suggestions = suggest_mapping(["Emial", "Email"])
    assert [(s.target, s.reason) for s in suggestions] == [(IGNORE, "none"), (EMAIL, "exact")]
    assert suggestions[0].detail == (
        "Could be Email, but 'Email' matches it better: pick another field or leave it as "
        "Don't import"
    )


def test_equally_good_headers_leave_the_field_to_the_first_column():
    suggestions = suggest_mapping(["Mobile Phone", "Business Phone", "Home Phone"])
    assert [s.reason for s in suggestions] == ["alias", "none", "none"]
    assert suggestions[0].target == FieldTarget("standard", "phone")


def test_remembered_beats_exact_for_the_same_field():
    suggestions = suggest_mapping(["Email", "Work Email"], remembered={"work email": "email"})
    assert [(s.target, s.reason) for s in suggestions] == [
        (IGNORE, "none"),
        (EMAIL, "remembered"),
    ]


def test_several_headers_may_all_be_suggested_as_tags():
    suggestions = suggest_mapping(["Tags", "Labels", "Group Membership"])
    assert [s.target for s in suggestions] == [FieldTarget("tags")] * 3


def test_suggestions_come_one_per_header_in_header_order():
    headers = ["Notes", "E-mail Address", "", "Given Name", "Notes"]
    suggestions = suggest_mapping(headers)
    assert [s.header for s in suggestions] == headers
    assert [target_to_spec(s.target) for s in suggestions] == [
        "ignore",
        "email",
        "ignore",
        "first_name",
        "ignore",
    ]


def test_a_google_contacts_export_is_mapped_without_help():
    headers = [
        "Name",
        "Given Name",
        "Additional Name",
        "Family Name",
        "Name Prefix",
        "Name Suffix",
        "Nickname",
        "Birthday",
        "Notes",
        "Group Membership",
        "E-mail 1 - Type",
        "E-mail 1 - Value",
        "Phone 1 - Type",
        "Phone 1 - Value",
        "Organization 1 - Name",
        "Organization 1 - Title",
    ]
    mapped = {s.header: target_to_spec(s.target) for s in suggest_mapping(headers)}
    assert {h: spec for h, spec in mapped.items() if spec != "ignore"} == {
        "Given Name": "first_name",
        "Family Name": "last_name",
        "Group Membership": "tags",
        "E-mail 1 - Value": "email",
        "Phone 1 - Value": "phone",
        "Organization 1 - Name": "company",
        "Birthday": "birthday:date",  # common columns become new custom fields
        "Organization 1 - Title": "job_title:text",
    }
