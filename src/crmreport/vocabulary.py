"""Words exports use for yes and no (consent, flags), shared by the readers and identify;
and the canonical order statuses every stage reads ``orders.status`` by."""

from __future__ import annotations

# orders.status: a purchase, or an order cancelled or refunded in full (identify maps an
# export's words onto these; features/net_orders.py classifies by them)
COMPLETED, CANCELLED, REFUNDED = "completed", "cancelled", "refunded"
ORDER_STATUSES = (COMPLETED, CANCELLED, REFUNDED)

YES = ("yes", "y", "true", "t", "1", "ja", "j", "x", "opt-in", "opted-in", "opted in",
       "subscribed", "granted", "accepted", "on", "oui", "si", "wahr", "angemeldet",
       "einwilligung", "confirmed")
NO = ("no", "n", "false", "f", "0", "nein", "opt-out", "opted-out", "opted out",
      "unsubscribed", "not subscribed", "not_subscribed", "denied", "declined", "revoked",
      "off", "non", "falsch", "abgemeldet", "widerrufen")


def in_list(values: tuple[str, ...]) -> str:
    """An SQL list of literals; the values are this module's own words, never user text."""
    return ", ".join(f"'{v}'" for v in values)

# 01.03.23, 1/3/23, 23-03-01: a year in two digits, which every reader takes as the year 23.
TWO_DIGIT_YEAR = r"^([0-9]{1,2}[./-][0-9]{1,2}[./-][0-9]{2}|[0-9]{2}-[0-9]{2}-[0-9]{2})( |T|$)"
