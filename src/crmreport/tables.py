"""The canonical tables every reader maps onto and every later stage reads (DESIGN §2).

Column types are DuckDB's. Identify creates these tables under these names in the run's
connection; nothing downstream sees a source file's own layout.
"""

from __future__ import annotations

CUSTOMERS: dict[str, str] = {
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
}

ORDERS: dict[str, str] = {
    "order_id": "VARCHAR",
    "customer_id": "VARCHAR",  # NULL for a guest checkout
    "ordered_at": "TIMESTAMPTZ",
    "order_date": "DATE",
    "amount": "DECIMAL(18,2)",
    "currency": "VARCHAR",
    "status": "VARCHAR",  # 'completed' | 'cancelled' | 'refunded'
    "channel": "VARCHAR",
}

ORDER_LINES: dict[str, str] = {
    "order_id": "VARCHAR",
    "sku": "VARCHAR",
    "product": "VARCHAR",
    "category": "VARCHAR",
    "quantity": "INTEGER",
    "unit_price": "DECIMAL(18,2)",
}

CONTACTS: dict[str, str] = {
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
}

SUPPRESSIONS: dict[str, str] = {
    "customer_id": "VARCHAR",
    "email": "VARCHAR",
    "channel": "VARCHAR",  # 'email' | 'letter' | 'all'
    "reason": "VARCHAR",
    "since": "DATE",
}

TABLES: dict[str, dict[str, str]] = {
    "customers": CUSTOMERS,
    "orders": ORDERS,
    "order_lines": ORDER_LINES,
    "contacts": CONTACTS,
    "suppressions": SUPPRESSIONS,
}

# Columns a source must provide; the rest may be absent and become NULL.
REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "orders": ("order_id", "customer_id", "order_date", "amount"),
    "order_lines": ("order_id", "category"),
    "contacts": ("campaign", "customer_id", "contacted_at", "channel", "test_group"),
    "suppressions": (),
}
