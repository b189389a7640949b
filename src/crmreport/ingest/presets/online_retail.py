"""UCI "Online Retail" (Chen 2015): one row per invoice line of a UK online gift retailer.

Rules, each counted with a reason code:
- an exact duplicate of an earlier line (all eight fields equal) is merged: ``duplicate_line``;
- fee and adjustment stock codes (postage, Dotcom postage, carriage, manual, bank charges,
  Amazon fee, CRUK commission, discount, samples, bad debt) are not product revenue:
  quarantined as ``fee_line`` so the user sees them, never added to an order's amount;
- a negative quantity on an invoice without the 'C' prefix is a stock adjustment (damaged,
  lost, found...), not a sale: ``stock_adjustment``;
- an unparsable quantity or price: ``bad_line``;
- CustomerID is written as a float (17850.0): it becomes "17850" only when exactly integral;
  anything else is quarantined as ``fractional_customer_id`` (never rounded);
- no CustomerID: a guest checkout, kept with a NULL customer (flag ``guest_row``).
Invoices become orders (amount = sum of quantity x unit price over the kept lines, DECIMAL;
'C' invoices are credit notes: status cancelled and a negative amount, which features'
net-revenue rule (features/net_orders.py) subtracts on the credit note's date, or uses to
cancel the order it exactly reverses, e.g. C581484 cancelling 581483); every
further line of an invoice is merged into it as ``order_line``; kept lines feed order_lines.
The shop's currency is pounds sterling: orders carry GBP.
"""

from __future__ import annotations

from crmreport.ingest.presets.base import Feed, Preset, RawFile, flags
from crmreport.ingest.readers import ReadOptions
from crmreport.reasons import MERGE, QUARANTINE, quoted

FEE_CODES = ("POST", "DOT", "C2", "M", "BANK CHARGES", "AMAZONFEE", "CRUK", "D", "S", "B")
FRACTIONAL = quoted("fractional_customer_id", QUARANTINE)
HEADER = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
          "CustomerID", "Country")


def _prepare(s: RawFile) -> str:
    raw = ", ".join(s.raw(c) for c in HEADER)
    cust = s.text("CustomerID")
    fees = ", ".join(f"'{c}'" for c in FEE_CODES)
    qty = f"TRY_CAST({s.number('Quantity')} AS DECIMAL(18,4))"
    price = f"TRY_CAST({s.number('UnitPrice')} AS DECIMAL(18,4))"
    return f"""CREATE OR REPLACE TEMP TABLE {s.staging}_or AS
    WITH lines AS (
        SELECT _row, {s.text('InvoiceNo')} AS inv, upper({s.text('StockCode')}) AS code,
               {s.text('Description')} AS product, {qty} AS qty, {price} AS price,
               nullif(trim({s.day('InvoiceDate')}), '') AS ts,
               {s.text('Country')} AS country, {cust} AS cust,
               CASE WHEN regexp_matches({cust}, '^[0-9]+(\\.0+)?$')
                    THEN regexp_replace({cust}, '\\.0+$', '') END AS cid,
               row_number() OVER (PARTITION BY {raw} ORDER BY _row) AS copy
        FROM {s.staging}),
    judged AS (
        SELECT *,
               CASE WHEN copy > 1 THEN NULL
                    WHEN code IN ({fees}) THEN {quoted('fee_line', QUARANTINE)}
                    WHEN qty IS NULL OR price IS NULL THEN {quoted('bad_line', QUARANTINE)}
                    WHEN cust IS NOT NULL AND cid IS NULL
                         AND NOT regexp_matches(cust, '^[0-9.]+[eE]') THEN {FRACTIONAL}
                    WHEN qty < 0 AND NOT starts_with(coalesce(inv, ''), 'C')
                         THEN {quoted('stock_adjustment', QUARANTINE)}
               END AS reason,
               CASE WHEN copy > 1 THEN {quoted('duplicate_line', MERGE)} END AS merge
        FROM lines)
    SELECT *, sum(qty * price) FILTER (WHERE reason IS NULL AND merge IS NULL)
                  OVER (PARTITION BY inv) AS total
    FROM judged"""


def _orders(s: RawFile) -> tuple[list[str], list[Feed]]:
    source = f"{s.staging}_or"
    orders = Feed("orders", {
        "_row": "_row", "_reason": "reason", "_merge": "merge", "_dup": quoted("order_line", MERGE),
        "_flags": flags(("guest_row", "cust IS NULL")),
        "order_id": "inv",
        "customer_id": "coalesce(cid, cust)",
        "ordered_at": "ts",
        "amount": "CAST(CAST(total AS DECIMAL(18,2)) AS VARCHAR)",
        "currency": "'GBP'",
        "status": "CASE WHEN starts_with(inv, 'C') THEN 'cancelled' ELSE 'completed' END",
        "channel": "'online'",
    }, source)
    lines = Feed("order_lines", {
        "_row": "_row", "order_id": "inv", "sku": "code", "product": "product",
        "quantity": "CAST(CAST(qty AS BIGINT) AS VARCHAR)",
        "unit_price": "CAST(price AS VARCHAR)",
    }, f"{source} WHERE reason IS NULL AND merge IS NULL", counted=False)
    return [_prepare(s)], [orders, lines]


def _customers(s: RawFile) -> tuple[list[str], list[Feed]]:
    source = f"{s.staging}_or"
    customers = Feed("customers", {
        "_row": "_row", "_merge": "merge",
        "_reason": f"CASE WHEN merge IS NOT NULL THEN NULL WHEN cust IS NULL THEN "
                   f"{quoted('guest_row', QUARANTINE)} WHEN reason = {FRACTIONAL} THEN reason END",
        "customer_id": "coalesce(cid, cust)", "country": "country",
    }, source)
    return [_prepare(s)], [customers]


PRESET = Preset(
    name="online-retail",
    description="UCI Online Retail (invoice lines; 'C' invoices are cancellations)",
    columns={t: {c: c for c in HEADER} for t in ("orders", "customers")},
    signature={"orders": ("InvoiceNo", "StockCode", "CustomerID"),
               "customers": ("InvoiceNo", "StockCode", "CustomerID")},
    read=ReadOptions(delimiter=","),
    date_formats=("%m/%d/%Y %H:%M",),
    transforms={"orders": _orders, "customers": _customers},
    required={"orders": ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice",
                         "CustomerID"),
              "customers": ("CustomerID",)},
)
