"""Consent on import: reading a subscription status from a file, and the rules for changing one.

Exports say a contact's status in their own words: Mailchimp's subscribed / unsubscribed /
cleaned / non-subscribed, Klaviyo's SUBSCRIBED / NEVER_SUBSCRIBED / SUPPRESSED, HubSpot's and
Brevo's yes/no columns ("Unsubscribed from all email", "Opted out of email", "Blacklisted"), in
which "true" means unsubscribed. A yes/no column is read by what its header asks: a header about
unsubscribing makes "true" mean unsubscribed and "false" say nothing, any other makes "true"
subscribed and "false" non-subscribed.

Rules: a contact who unsubscribed (or bounced) is never subscribed again by an import; only
"unsubscribed" can replace "bounced". New contacts without a status get the import's default:
non-subscribed unless the marketer confirmed that they gave permission.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from app.imports.conversions import BOOLEANS, ConversionError

SUBSCRIBED = "subscribed"
NON_SUBSCRIBED = "non_subscribed"
UNSUBSCRIBED = "unsubscribed"
BOUNCED = "bounced"
INACTIVE_STATUSES = (UNSUBSCRIBED, BOUNCED)
NEW_CONTACT_STATUSES = (NON_SUBSCRIBED, SUBSCRIBED)
CONSENT_FIELDS = ("subscription_status", "consented_on", "unsubscribed_on")

_WORDS: dict[str, str] = {}
for _status, _spellings in {
    SUBSCRIBED: (
        "subscribed",
        "subscriber",
        "opted in",
        "opt in",
        "optin",
        "confirmed",
        "active",
        "double opt in",
        "single opt in",
        "consented",
        "granted",
    ),
    NON_SUBSCRIBED: (
        "non subscribed",
        "nonsubscribed",
        "not subscribed",
        "never subscribed",
        "unconfirmed",
        "pending",
        "transactional",
        "no consent",
        "not opted in",
    ),
    UNSUBSCRIBED: (
        "unsubscribed",
        "unsubscribe",
        "opted out",
        "opt out",
        "optout",
        "blacklisted",
        "blocklisted",
        "blocked",
        "suppressed",
        "do not email",
        "revoked",
        "withdrawn",
    ),
    BOUNCED: ("cleaned", "bounced", "hard bounce", "hard bounced", "bounce", "invalid"),
}.items():
    for _spelling in _spellings:
        _WORDS[_spelling] = _status

_FOLD = re.compile(r"[\s_\-]+")
_NEGATIVE_HEADER = re.compile(
    r"unsub|opt(?:ed)?\s*out|black\s*list|block\s*list|suppress|do\s*not\s*(?:e\s*)?mail|bounce"
)
_HINT = (
    "is not a subscription status: use subscribed, non-subscribed, unsubscribed or cleaned "
    "(yes/no works too)."
)


def status_reader(header: str) -> Callable[[str], str | None]:
    """A converter from this column's cells to a status (None: the cell says nothing)."""
    negative = bool(_NEGATIVE_HEADER.search(_FOLD.sub(" ", header.casefold())))

    def read(value: str) -> str | None:
        text = _FOLD.sub(" ", value.casefold()).strip()
        if text in _WORDS:
            return _WORDS[text]
        if text in BOOLEANS:
            if negative:
                return UNSUBSCRIBED if BOOLEANS[text] else None
            return SUBSCRIBED if BOOLEANS[text] else NON_SUBSCRIBED
        raise ConversionError(_HINT)

    return read


def next_status(current: str, incoming: str) -> str:
    """The status after an import says `incoming`: unsubscribed contacts stay unsubscribed."""
    if current in INACTIVE_STATUSES and incoming != UNSUBSCRIBED:
        return current
    return incoming
