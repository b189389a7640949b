"""Shopify admin exports: customers (Customers > Export) and orders (Orders > Export).

The orders export has one row per line item; order-level fields (Total, Financial Status,
Created at, Email...) are filled on an order's first row only. The order is the first row;
the further rows are merged into it (``order_line``); every row feeds order_lines. The
export carries no customer id, so Shopify customers are identified by their e-mail address
(lower-cased) in both files; an order without e-mail is a guest checkout. Zips keep their
leading zeros (Shopify writes them as '01067). Created at carries the shop's UTC offset,
which changes with daylight saving time; the order's day is the shop's local day as
written. Status: Cancelled at set -> cancelled; Financial Status refunded -> refunded,
voided -> cancelled; otherwise completed, with the Refunded Amount netted off the Total.
Test orders (paid through the Bogus gateway, tagged test, or test@ addresses) are flagged.
"""

from __future__ import annotations

from crmreport.ingest.presets.base import Feed, Preset, RawFile, flags, lower_email
from crmreport.reasons import MERGE, quoted

CUSTOMERS: dict[str, str | tuple[str, ...]] = {
    "customer_id": "Email", "email": "Email", "first_name": "First Name",
    "last_name": "Last Name",
    "company": ("Default Address Company", "Company"),
    "street": ("Default Address Address1", "Address1"),
    "city": ("Default Address City", "City"),
    "postal_code": ("Default Address Zip", "Zip"),
    "country": ("Default Address Country Code", "Country Code", "Country"),
    "email_consent": ("Accepts Email Marketing", "Accepts Marketing"),
    "tags": "Tags",
}
ORDERS: dict[str, str | tuple[str, ...]] = {
    "order_id": "Name", "email": "Email", "financial": "Financial Status",
    "currency": "Currency", "total": "Total", "refunded": "Refunded Amount",
    "created": "Created at", "cancelled": "Cancelled at", "quantity": "Lineitem quantity",
    "product": "Lineitem name", "unit_price": "Lineitem price", "sku": "Lineitem sku",
    "vendor": "Vendor", "payment": ("Payment Method", "Payment Gateway"), "tags": "Tags",
    "billing_name": "Billing Name", "source": "Source", "test": "Test",
}


def _customers(s: RawFile) -> tuple[list[str], list[Feed]]:
    columns = s.mapped_columns("customers", [c for c in CUSTOMERS if c != "tags"])
    columns["customer_id"] = lower_email(s.raw("customer_id"))
    columns["_row"] = "_row"
    columns["_flags"] = flags(("tagged_test", f"lower({s.text('tags')}) LIKE '%test%'"))
    return [], [Feed("customers", columns, s.staging)]


def _orders(s: RawFile) -> tuple[list[str], list[Feed]]:
    status = (f"CASE WHEN {s.text('cancelled')} IS NOT NULL THEN 'cancelled' "
              f"WHEN lower({s.text('financial')}) = 'refunded' THEN 'refunded' "
              f"WHEN lower({s.text('financial')}) = 'voided' THEN 'cancelled' "
              f"WHEN {s.text('financial')} IS NULL THEN NULL ELSE 'completed' END")
    total = f"TRY_CAST({s.number('total')} AS DECIMAL(18,2))"
    refunded = f"coalesce(TRY_CAST({s.number('refunded')} AS DECIMAL(18,2)), 0)"
    test = (f"lower({s.text('payment')}) LIKE '%bogus%' OR lower({s.text('test')}) = 'true' "
            f"OR lower({s.text('tags')}) LIKE '%test%' "
            f"OR regexp_matches(lower({s.text('email')}), '^test[0-9._+-]*@') "
            f"OR lower({s.text('billing_name')}) IN ('test', 'test test')")
    first = f"row_number() OVER (PARTITION BY {s.text('order_id')} ORDER BY _row) = 1"
    orders = Feed("orders", {
        "_row": "_row",
        "_merge": f"CASE WHEN {s.text('order_id')} IS NOT NULL AND NOT ({first}) "
                  f"THEN {quoted('order_line', MERGE)} END",
        "_flags": flags(("test_order", f"coalesce({test}, false)")),
        "order_id": s.text("order_id"),
        "customer_id": lower_email(s.raw("email")),
        "ordered_at": s.text("created"),
        "amount": f"CAST({total} - {refunded} AS VARCHAR)",
        "currency": s.text("currency"),
        "status": status,
        "channel": f"CASE WHEN lower({s.text('source')}) = 'pos' THEN 'store' "
                   f"WHEN {s.text('created')} IS NULL THEN NULL ELSE 'online' END",
    }, s.staging)
    lines = Feed("order_lines", {
        "_row": "_row", "order_id": s.text("order_id"), "sku": s.text("sku"),
        "product": s.text("product"), "category": f"lower({s.text('vendor')})",
        "quantity": s.text("quantity"), "unit_price": s.number("unit_price"),
    }, s.staging, counted=False)
    return [], [orders, lines]


PRESET = Preset(
    name="shopify",
    description="Shopify customers and orders exports (orders: one row per line item)",
    columns={"customers": CUSTOMERS, "orders": ORDERS},
    signature={"customers": ("First Name", "Last Name", "Email", "Total Spent"),
               "orders": ("Name", "Financial Status", "Lineitem quantity")},
    transforms={"customers": _customers, "orders": _orders},
    required={"customers": ("customer_id",), "orders": ("order_id", "total", "created")},
)
