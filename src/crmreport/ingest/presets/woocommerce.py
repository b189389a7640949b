"""WooCommerce Analytics exports (Analytics > Customers, Analytics > Orders, "Download").

Customers are identified by e-mail (lower-cased): guests appear in the customers report
with an e-mail but no username. The Analytics orders report names the customer but holds no
e-mail or id; an order row is linked to a customer only through a ``Billing Email`` /
``Customer email`` column when the export has one (the classic orders CSV export does),
otherwise it is kept as an unlinked order (flag ``customer_not_identified``), never matched
by name. Status: Completed/Processing -> completed, Refunded -> refunded, Cancelled ->
cancelled; failed, pending payment, on hold and draft orders were never paid:
quarantined as ``unpaid_order``. A refund exported as its own row with negative Net Sales is
a credit note (features/net_orders.py): it reverses the order of exactly its amount, or
subtracts on its own date.
"""

from __future__ import annotations

from crmreport.ingest.presets.base import Feed, Preset, RawFile, flags, lower_email
from crmreport.reasons import QUARANTINE, quoted

CUSTOMERS: dict[str, str | tuple[str, ...]] = {
    "customer_id": "Email", "email": "Email", "name": "Name", "username": "Username",
    "signup_date": "Date registered", "country": ("Country / Region", "Country"),
    "city": "City", "postal_code": ("Postal code", "Postcode"),
}
ORDERS: dict[str, str | tuple[str, ...]] = {
    "order_id": ("Order #", "Order Number", "Order ID"),
    "order_date": ("Date", "Order Date"),
    "status": ("Status", "Order Status"),
    "customer": "Customer",
    "email": ("Billing Email", "Customer email", "Email (Billing)"),
    "amount": ("Net Sales", "Order Total", "Order Total Amount"),
    "currency": ("Currency", "Order Currency"),
}
UNPAID = ("failed", "pending payment", "pending", "on hold", "on-hold", "draft", "checkout-draft")


def _customers(s: RawFile) -> tuple[list[str], list[Feed]]:
    columns = s.mapped_columns("customers", ["signup_date", "country", "city", "postal_code"])
    name = s.text("name")
    columns.update({
        "_row": "_row", "customer_id": lower_email(s.raw("customer_id")),
        "email": s.raw("email"),
        "first_name": f"nullif(split_part({name}, ' ', 1), '')",
        "last_name": f"nullif(trim(substr({name}, length(split_part({name}, ' ', 1)) + 1)), '')",
        "_flags": flags(("guest_customer", f"{s.text('username')} IS NULL")),
    })
    return [], [Feed("customers", columns, s.staging)]


def _orders(s: RawFile) -> tuple[list[str], list[Feed]]:
    status = f"lower({s.text('status')})"
    unpaid = ", ".join(f"'{u}'" for u in UNPAID)
    columns = {
        "_row": "_row",
        "_reason": f"CASE WHEN {status} IN ({unpaid}) THEN "
                   f"{quoted('unpaid_order', QUARANTINE)} END",
        "_flags": flags(("customer_not_identified",
                         f"{s.text('email')} IS NULL AND {s.text('customer')} IS NOT NULL")),
        "order_id": f"ltrim({s.text('order_id')}, '#')",
        "customer_id": lower_email(s.raw("email")),
        "order_date": s.raw("order_date"), "ordered_at": s.raw("order_date"),
        "amount": s.number("amount"), "currency": s.raw("currency"),
        "status": f"CASE WHEN {status} = 'processing' THEN 'completed' ELSE {status} END",
        "channel": "'online'",
    }
    return [], [Feed("orders", columns, s.staging)]


PRESET = Preset(
    name="woocommerce",
    description="WooCommerce Analytics customers and orders exports",
    columns={"customers": CUSTOMERS, "orders": ORDERS},
    signature={"customers": ("Username", "Date registered", "Email"),
               "orders": ("Order #", "Net Sales", "Customer type")},
    transforms={"customers": _customers, "orders": _orders},
    required={"customers": ("customer_id",), "orders": ("order_id", "order_date", "amount")},
)
