"""HubSpot contacts export (Contacts > Export, all properties or the default view).

Record ID is the customer id. Consent: "Unsubscribed from all email" true -> no; a
subscription status column (Opted in / Subscribed / Not subscribed / Opted out) when present;
anything else, including a merely "Marketing contact", is unknown, never consent.
"""

from __future__ import annotations

from crmreport.ingest.presets.base import Feed, Preset, RawFile
from crmreport.vocabulary import NO, YES, in_list

CUSTOMERS: dict[str, str | tuple[str, ...]] = {
    "customer_id": ("Record ID", "Contact ID", "Record ID - Contact"),
    "email": "Email", "first_name": "First Name", "last_name": "Last Name",
    "company": ("Company Name", "Associated Company"),
    "street": "Street Address", "postal_code": ("Postal Code", "Zip"), "city": "City",
    "country": ("Country/Region", "Country"), "signup_date": ("Create Date", "Create date"),
    "unsubscribed": ("Unsubscribed from all email", "Opted out of all email"),
    "subscription": ("Marketing email subscription status", "Email subscription status",
                     "Subscription status"),
    "locale": ("Preferred language", "Language"),
}


def _customers(s: RawFile) -> tuple[list[str], list[Feed]]:
    columns = s.mapped_columns("customers", ["customer_id", "email", "first_name", "last_name",
                                             "company", "street", "postal_code", "city",
                                             "country", "signup_date", "locale"])
    optout = f"lower({s.text('unsubscribed')})"
    subscription = f"lower({s.text('subscription')})"
    columns["email_consent"] = (
        f"CASE WHEN {optout} IN ({in_list(YES)}) THEN 'no' "
        f"WHEN {subscription} IN ({in_list(YES)}) THEN 'yes' "
        f"WHEN {subscription} IN ({in_list(NO)}) THEN 'no' END")
    columns["_row"] = "_row"
    return [], [Feed("customers", columns, s.staging)]


PRESET = Preset(
    name="hubspot",
    description="HubSpot contacts export",
    columns={"customers": CUSTOMERS},
    signature={"customers": ("Record ID", "Email", "First Name")},
    date_formats=("%Y-%m-%d %H:%M",),
    transforms={"customers": _customers},
)
