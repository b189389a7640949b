"""The cleaning rules: per canonical table, how a raw text row becomes a typed row, and when
it is quarantined, flagged or merged instead. A reviewer reads these; ``staging`` runs them.

The rules, stated once:
- customers: one row per customer_id; later duplicate rows are merged into the first one
  (file order), filling only its empty fields; permission is merged restrictively: any
  mail objection counts, and email consent is 'yes' only if the row that gives the address
  says yes and no row says no. Emails are trimmed and lower-cased; an invalid email is
  blanked (flagged). Consent is yes/no/unknown; missing is unknown.
  Records under different ids that match by the campaign's identity rules are one person,
  merged the same way under the first record's id (``persons``; ``customer_ids`` maps them).
- orders: an empty customer_id is a guest checkout, kept apart with a NULL customer_id.
  Amounts are DECIMAL; an order in another currency than the campaign's is converted at
  the latest rate on or before its date when data.currency_rates rates that currency
  (half up to cents; flagged converted_currency), quarantined without such a rate
  (no_currency_rate), and quarantined (other_currency) when the currency is not rated.
  Duplicate order ids are merged into the first.
  A negative amount is a credit note and is kept as written: what it means for revenue is
  stated once, in features/net_orders.py.
- order_lines need a known order; suppressions need an email or a customer id.
"""

from __future__ import annotations

from crmreport.identify.currency import convert, rate_at
from crmreport.identify.normalise import (
    CHANNEL,
    STATUS,
    consent,
    country,
    date,
    decimal,
    email,
    flag,
    mangled_id,
    mapped,
    postal_code,
    test_record,
    text,
    timestamp,
    two_digit_year,
    unescaped,
    unrecognised_consent,
    valid_email,
)
from crmreport.identify.persons import PERSON
from crmreport.identify.spec import KEPT, STAGING, Lane, Spec
from crmreport.tables import CUSTOMER_IDS
from crmreport.vocabulary import COMPLETED, in_list


def specs(currency: str, rated: tuple[str, ...] = (),
          match: tuple[tuple[str, ...], ...] = ()) -> list[Spec]:
    """The rules per table; ``rated``: the other currencies the rate table converts;
    ``match``: the column sets that mean the same person."""
    return [_customers(match), _orders(currency, rated), _order_lines(), _suppressions(),
            _contacts()]


def _customers(match: tuple[tuple[str, ...], ...]) -> Spec:
    return Spec(
        table="customers",
        values={"v_id": text("customer_id"), "v_email": email("email"),
                "v_country": country("country"), "v_signup": date("signup_date")},
        columns={
            "customer_id": "v_id",
            "email": f"CASE WHEN {valid_email('v_email')} THEN v_email END",
            **{c: text(c) for c in ("salutation", "first_name", "last_name", "company",
                                      "street", "city", "locale")},
            "postal_code": postal_code("postal_code"),
            "country": "v_country",
            "signup_date": "v_signup",
            "email_consent": consent("email_consent"),
            "mail_objection": flag("mail_objection"),
        },
        checks=[
            ("missing_customer_id", "v_id IS NULL"),
            ("mangled_customer_id", mangled_id("v_id")),
        ],
        flags=[
            ("invalid_email", f"v_email IS NOT NULL AND NOT {valid_email('v_email')}"),
            ("unrecognised_consent", unrecognised_consent("email_consent")),
            ("two_digit_year", two_digit_year("signup_date")),
            ("bad_signup_date", f"{text('signup_date')} IS NOT NULL AND v_signup IS NULL "
                                f"AND NOT {two_digit_year('signup_date')}"),
            ("unknown_country", f"{text('country')} IS NOT NULL AND v_country IS NULL"),
            ("test_customer", test_record("v_email", "first_name", "last_name")),
        ],
        # The same address on two persons (the match rules did not merge them): both kept.
        across=[("shared_email", f"email IN (SELECT email FROM {STAGING} WHERE {KEPT} GROUP BY "
                                 f"email HAVING count(DISTINCT {PERSON}) > 1)")],
        key="customer_id",
        match=match,  # records of one person merge like same-id duplicates (``persons``)
        # Permission is never assembled from different rows: any objection counts, and email
        # consent is 'yes' only if the row giving the address says so and no row says no.
        merge={
            "mail_objection": "bool_or(mail_objection)",
            "email_consent": "CASE WHEN bool_or(email_consent = 'no') THEN 'no' ELSE "
                             "coalesce(arg_min(email_consent, rowid) FILTER (WHERE email IS NOT "
                             "NULL), 'unknown') END",
        },
    )


def unknown(column: str, table: str) -> str:
    """``column`` holds a value that is not among ``table``'s ``column`` (a key: no NULLs).

    Written NOT EXISTS, not NOT IN: NOT IN must also answer for NULLs, which Spark can do only
    by broadcasting the whole table (20M orders' ids exhausted a 4 GB driver); an equality is
    joined by hash on both engines. The matched value is renamed so that the bare column
    binds to the staged row."""
    return (f"{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM (SELECT {column} AS __crm_known "
            f"FROM {table}) k WHERE k.__crm_known = {column})")


def _orders(currency: str, rated: tuple[str, ...] = ()) -> Spec:
    across = [("unknown_customer",  # any loaded id, merged ones too (``persons``)
               unknown("customer_id", str(CUSTOMER_IDS)))]
    # Converted orders are counted before conversion renames their currency.
    if rated:
        across.append(("converted_currency", f"currency IN ({in_list(rated)})"))
    other = f"v_currency <> '{currency}'" + (
        f" AND v_currency NOT IN ({in_list(rated)})" if rated else "")
    against = [("no_currency_rate", f"currency <> '{currency}' AND {rate_at()} IS NULL")]
    return Spec(
        table="orders",
        values={
            "v_id": text("order_id"),
            "v_customer": text("customer_id"),
            "v_day": f"coalesce({date('order_date')}, {date('ordered_at')})",
            "v_amount": decimal("amount"),
            "v_currency": f"coalesce(upper({text('currency')}), '{currency}')",
            "v_status": mapped("status", STATUS),
        },
        columns={
            "order_id": "v_id",
            "customer_id": "v_customer",
            "ordered_at": f"coalesce({timestamp('ordered_at')}, CAST(v_day AS TIMESTAMPTZ))",
            "order_date": "v_day",
            "amount": "v_amount",
            "currency": "v_currency",
            "status": f"coalesce(v_status, '{COMPLETED}')",
            "channel": f"lower({text('channel')})",
        },
        checks=[
            ("missing_order_id", "v_id IS NULL"),
            ("mangled_customer_id", mangled_id("v_customer")),
            ("two_digit_year", f"v_day IS NULL AND ({two_digit_year('order_date')} OR "
                               f"{two_digit_year('ordered_at')})"),
            ("bad_order_date", "v_day IS NULL"),
            ("bad_amount", "v_amount IS NULL"),
            ("unknown_status", f"v_status IS NULL AND {text('status')} IS NOT NULL"),
            ("other_currency", other),
        ],
        # An empty status is read as completed, and shown.
        flags=[("guest_order", "v_customer IS NULL"),
               ("missing_status", f"v_status IS NULL AND {text('status')} IS NULL")],
        against=against if rated else [],
        across=across,
        convert=convert(STAGING, currency, rated),
        key="order_id",
        lane=Lane(
            types={"ordered_at": "TIMESTAMPTZ", "order_date": "DATE", "amount": "DECIMAL(18,2)"},
            # Text as staging makes it. A missing timestamp is the order's day, as staged; the
            # day itself must be given (staging would take the timestamp's day as written,
            # which the typed value lost).
            columns={"order_id": text("order_id"), "customer_id": text("customer_id"),
                     "ordered_at": "coalesce(ordered_at, CAST(order_date AS TIMESTAMPTZ))",
                     "currency": f"coalesce(currency, '{currency}')",
                     "channel": f"lower({text('channel')})"},
            clean=[
                "order_id IS NOT NULL AND order_date IS NOT NULL AND amount IS NOT NULL",
                "year(order_date) >= 100",  # 23-03-01 is typed as the year 23: staged
                f"currency = '{currency}' AND coalesce(status IN ({in_list(tuple(STATUS))}), "
                "true)",
                # the pattern only where it could match: ids starting with a digit
                f"NOT coalesce(CASE WHEN customer_id < ':' THEN "
                f"{mangled_id('customer_id')} END, false)",
            ],
            flags=[("guest_order", "customer_id IS NULL")],
            filled={"status": (f"'{COMPLETED}'", "missing_status")},
        ),
    )


def _order_lines() -> Spec:
    return Spec(
        table="order_lines",
        values={"v_id": text("order_id"), "v_quantity": text("quantity")},
        columns={
            "order_id": "v_id",
            "sku": text("sku"),
            "product": text("product"),
            "category": f"lower({text('category')})",
            "quantity": "coalesce(TRY_CAST(v_quantity AS INTEGER), 1)",
            "unit_price": decimal("unit_price"),
        },
        checks=[("missing_order_id", "v_id IS NULL")],
        against=[("unknown_order", unknown("order_id", "orders"))],
        # An empty quantity means one item; one that is not a whole number is shown, not hidden.
        flags=[("bad_quantity", "v_quantity IS NOT NULL AND "
                                "TRY_CAST(v_quantity AS INTEGER) IS NULL")],
        lane=Lane(
            types={"quantity": "INTEGER", "unit_price": "DECIMAL(18,2)"},
            columns={**{c: text(c) for c in ("order_id", "sku", "product")},
                     "category": f"lower({text('category')})",
                     "quantity": "coalesce(quantity, 1)"},
            clean=["order_id IS NOT NULL"],
        ),
    )


def _suppressions() -> Spec:
    return Spec(
        table="suppressions",
        columns={
            "customer_id": text("customer_id"),
            "email": email("email"),
            "channel": f"coalesce({mapped('channel', CHANNEL)}, 'all')",
            "reason": f"coalesce({text('reason')}, 'unspecified')",
            "since": date("since"),
        },
        checks=[
            ("no_identifier", f"{text('customer_id')} IS NULL AND {text('email')} IS NULL"),
            ("unknown_channel", f"{text('channel')} IS NOT NULL AND "
                                f"{mapped('channel', CHANNEL)} IS NULL"),
        ],
    )


def _contacts() -> Spec:
    group = f"lower({text('test_group')})"
    return Spec(
        table="contacts",
        columns={
            # crmreport wrote the history formula-safe: read back the values it was given
            **{c: unescaped(c) for c in ("run_id", "campaign", "customer_id", "segment",
                                           "offer", "variant", "content_hash", "coupon")},
            "contacted_at": date("contacted_at"),
            "channel": mapped("channel", {"email": CHANNEL["email"],
                                            "letter": CHANNEL["letter"]}),
            "test_group": group,
        },
        checks=[
            ("two_digit_year", two_digit_year("contacted_at")),
            ("incomplete_contact", f"{text('campaign')} IS NULL OR "
                                   f"{text('customer_id')} IS NULL OR "
                                   f"{date('contacted_at')} IS NULL"),
            ("unknown_group", f"{group} IS NULL OR {group} NOT IN ('treatment', 'control')"),
        ],
    )
