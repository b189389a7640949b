"""The catalogue of every table one stage hands to another.

Each table is declared once: its name, its columns with their DuckDB types in order, the
stage (package) that makes it and what it holds. The five input tables are the canonical
layout every reader maps onto; nothing downstream sees a source file's own layout. A stage
reads another stage's table through its declaration here, and names what it made in the
handle its entry point returns; ``tests/test_tables.py`` holds the run's tables to this.

A ``Table`` interpolates as its name, so SQL reads ``f"SELECT ... FROM {ASSIGNMENTS}"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, eq=False)
class Table:
    """A table handed from the stage that makes it to later ones."""

    name: str
    columns: Mapping[str, str]  # column -> DuckDB type, in the table's order
    stage: str  # the package that makes it
    holds: str  # what one row is, in a line
    kept: bool = True  # False: dropped once the next stage has read it

    def __str__(self) -> str:
        return self.name

    def create(self, temp: bool = False) -> str:
        """SQL creating the table empty, with its declared columns (replacing any before)."""
        columns = ", ".join(f'"{name}" {kind}' for name, kind in self.columns.items())
        return f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE {self.name} ({columns})"


# ingest: raw text, read by identify and then released.

RAW_REJECTS = Table("raw_rejects", {
    "_file": "INTEGER",  # the file's index in the account
    "line": "BIGINT",
    "csv_line": "VARCHAR",
    "error": "VARCHAR",
}, "ingest", "a line the CSV parser rejected, as written", kept=False)

# identify: the canonical tables, then the rows left out of them.

CUSTOMERS = Table("customers", {
    "customer_id": "VARCHAR",
    "email": "VARCHAR",
    "salutation": "VARCHAR",
    "first_name": "VARCHAR",
    "last_name": "VARCHAR",
    "company": "VARCHAR",
    "street": "VARCHAR",
    "postal_code": "VARCHAR",
    "city": "VARCHAR",
    "country": "VARCHAR",
    "locale": "VARCHAR",
    "signup_date": "DATE",
    "email_consent": "VARCHAR",  # 'yes' | 'no' | 'unknown'
    "mail_objection": "BOOLEAN",
}, "identify", "one customer (person), duplicate records merged")

CUSTOMER_IDS = Table("customer_ids", {
    "customer_id": "VARCHAR",  # every loaded customer id, survivors included
    "person_id": "VARCHAR",  # the customer id the person keeps (see identify/persons.py)
}, "identify", "a loaded customer id and the id of the person it was merged into")

ORDERS = Table("orders", {
    "order_id": "VARCHAR",
    "customer_id": "VARCHAR",  # NULL for a guest checkout
    "ordered_at": "TIMESTAMPTZ",
    "order_date": "DATE",
    "amount": "DECIMAL(18,2)",  # negative: a credit note (see features/net_orders.py)
    "currency": "VARCHAR",
    "status": "VARCHAR",  # 'completed' | 'cancelled' | 'refunded'
    "channel": "VARCHAR",
}, "identify", "one order or credit note in the campaign's currency")

ORDER_LINES = Table("order_lines", {
    "order_id": "VARCHAR",
    "sku": "VARCHAR",
    "product": "VARCHAR",
    "category": "VARCHAR",
    "quantity": "INTEGER",
    "unit_price": "DECIMAL(18,2)",
}, "identify", "one line of a known order")

CONTACTS = Table("contacts", {
    "run_id": "VARCHAR",
    "campaign": "VARCHAR",
    "customer_id": "VARCHAR",
    "contacted_at": "DATE",
    "channel": "VARCHAR",  # 'email' | 'letter'
    "segment": "VARCHAR",
    "offer": "VARCHAR",
    "variant": "VARCHAR",
    "test_group": "VARCHAR",  # 'treatment' | 'control'
    "content_hash": "VARCHAR",
    "coupon": "VARCHAR",  # the code a treated customer got, if the offer has a pool
}, "identify", "one contact or hold-out in the history of every campaign")

SUPPRESSIONS = Table("suppressions", {
    "customer_id": "VARCHAR",
    "email": "VARCHAR",
    "channel": "VARCHAR",  # 'email' | 'letter' | 'all'
    "reason": "VARCHAR",
    "since": "DATE",
}, "identify", "a customer or address not to contact on a channel")

CURRENCY_RATES = Table("currency_rates", {
    "rate_date": "DATE",  # valid from this day until the currency's next rate
    "rate_currency": "VARCHAR",
    "rate": "DECIMAL(18,8)",  # campaign-currency units per 1 unit of rate_currency
}, "identify", "an exchange rate from data.currency_rates (empty without one)")

QUARANTINE = Table("quarantine", {
    "tbl": "VARCHAR",  # the table the row was meant for
    "_file": "INTEGER",  # the file's index in the account
    "_row": "BIGINT",  # the data row within the file
    "line": "BIGINT",  # the parser's record number, for a rejected line
    "reason": "VARCHAR",
    "data": "VARCHAR",  # the row's values as JSON, or the line as written
}, "identify", "an input row left out, with its reason and values")

# features

NET_ORDERS = Table("net_orders", {
    "order_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "order_date": "DATE",
    "amount": "DECIMAL(18,2)",
    "kind": "VARCHAR",  # 'purchase' | 'credit' (amount < 0) | 'cancelled' (by status)
    "cancelled_on": "DATE",  # a purchase's: the day of the credit note that reverses it
    "reverses": "VARCHAR",  # a credit note's: the order it reverses in full
}, "features", "one order or credit note of a known customer, classified for net revenue")

FEATURES = Table("features", {
    "customer_id": "VARCHAR",
    "country": "VARCHAR",
    "locale": "VARCHAR",
    "email_consent": "VARCHAR",
    "mail_objection": "BOOLEAN",
    "has_email": "BOOLEAN",
    "has_address": "BOOLEAN",
    "signup_days": "BIGINT",
    "orders": "INTEGER",
    "repeat_orders": "INTEGER",
    "monetary": "DECIMAL(18,2)",
    "avg_order_value": "DECIMAL(18,2)",
    "cancelled_orders": "INTEGER",
    "first_order_date": "DATE",
    "last_order_date": "DATE",
    "recency_days": "INTEGER",
    "tenure_days": "INTEGER",
    "days_overdue": "DOUBLE",
    "top_category": "VARCHAR",
    "days_since_contact": "INTEGER",
    "contacts_365d": "INTEGER",
    "r_score": "INTEGER",
    "f_score": "INTEGER",
    "m_score": "INTEGER",
    "rfm_segment": "VARCHAR",
    "repeat_purchase_days": "INTEGER",
    "p_alive": "DOUBLE",
    "churn_risk": "DOUBLE",
    "expected_orders_52w": "DOUBLE",
    "expected_spend": "DOUBLE",
    "clv_52w": "DOUBLE",
    "next_category": "VARCHAR",  # the cross-sell suggestion (features/affinity.py)
}, "features", "one customer's RFM, history and value features as of the campaign date")

CO_PURCHASE = Table("co_purchase", {
    "category_a": "VARCHAR",
    "category_b": "VARCHAR",
    "customers": "BIGINT",
    "support": "DOUBLE",
    "confidence": "DOUBLE",
    "lift": "DOUBLE",
}, "features", "how much buying category a goes with buying category b")

# rules


def assignment_columns(offers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``assignments``' columns for a campaign: ``offers`` are (offer id, type of its value)
    in the rules' order (best first). The feature columns, per offer ``"eligible:<id>"``,
    then per offer ``"value:<id>"``, then the segment and the chosen offer."""
    offers = list(offers)
    return {**FEATURES.columns,
            **{f"eligible:{offer}": "BOOLEAN" for offer, _ in offers},
            **{f"value:{offer}": kind for offer, kind in offers},
            "segment": "VARCHAR", "offer": "VARCHAR"}


# Its columns for a campaign without offers; assignment_columns gives a campaign's.
ASSIGNMENTS = Table("assignments", assignment_columns([]), "rules",
                    "one customer's features, segment, offer verdicts and chosen offer")

RULE_LISTS = Table("rule_lists", {
    "list": "VARCHAR",
    "col": "VARCHAR",
    "value": "VARCHAR",
}, "rules", "a value of a campaign list, read by the compiled conditions wherever they run")

# interact

PERMISSIONS = Table("permissions", {
    "customer_id": "VARCHAR",
    "segment": "VARCHAR",
    "offer": "VARCHAR",  # the best eligible offer that can reach them, else first_choice
    "first_choice": "VARCHAR",  # the rules' choice, whatever the channels (assignments)
    "email": "VARCHAR",
    "email_ok": "BOOLEAN",
    "letter_ok": "BOOLEAN",
    "email_suppression": "VARCHAR",
    "letter_suppression": "VARCHAR",
    "email_suppressed": "BOOLEAN",
    "letter_suppressed": "BOOLEAN",
}, "interact", "per customer with an offer: may we email, may we write, and why not")

CONTACT_PLAN = Table("contact_plan", {
    "customer_id": "VARCHAR",
    "segment": "VARCHAR",
    "offer": "VARCHAR",
    "channel": "VARCHAR",
    "variant": "VARCHAR",
    "test_group": "VARCHAR",
    "excluded": "VARCHAR",  # the exclusion reason; NULL for a customer in the plan
    "suppression_reason": "VARCHAR",
    "coupon": "VARCHAR",
}, "interact", "per customer with an offer: channel, group, variant and coupon, or exclusion")

SUGGESTIONS = Table("suggestions", {
    "customer_id": "VARCHAR",
    "suggested_category": "VARCHAR",
}, "interact", "a customer's cross-sell category, for those with an offer and a suggestion")

CATALOGUE: tuple[Table, ...] = (
    RAW_REJECTS, CUSTOMERS, CUSTOMER_IDS, ORDERS, ORDER_LINES, CONTACTS, SUPPRESSIONS,
    CURRENCY_RATES, QUARANTINE, NET_ORDERS,
    FEATURES, CO_PURCHASE, ASSIGNMENTS, RULE_LISTS, PERMISSIONS, CONTACT_PLAN, SUGGESTIONS,
)


def made_by(stage: str) -> tuple[Table, ...]:
    """The tables ``stage`` makes, in catalogue order."""
    return tuple(t for t in CATALOGUE if t.stage == stage)


# The input tables by name: what sources are mapped onto and identify makes.
INPUTS: tuple[Table, ...] = (CUSTOMERS, ORDERS, ORDER_LINES, CONTACTS, SUPPRESSIONS)
TABLES: dict[str, Mapping[str, str]] = {t.name: t.columns for t in INPUTS}

# Columns a source must provide; the rest may be absent and become NULL.
REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "orders": ("order_id", "customer_id", "order_date", "amount"),
    "order_lines": ("order_id", "category"),
    "contacts": ("campaign", "customer_id", "contacted_at", "channel", "test_group"),
    "suppressions": (),
}
