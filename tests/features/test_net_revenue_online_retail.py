"""Net revenue on the full UCI Online Retail file through `crmreport clv`, against the file read
with the csv module and the preset's documented rules applied here, independently."""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from click.testing import CliRunner

from crmreport.cli import main

FOLDER = Path(__file__).resolve().parents[1] / "data" / "online_retail"
FEES = {"POST", "DOT", "C2", "M", "BANK CHARGES", "AMAZONFEE", "CRUK", "D", "S", "B"}
AS_OF = "2011-12-10"  # after the file's last day: every invoice counts


@dataclass
class Customer:
    """One customer's invoices as (day, is credit note, time, invoice, amount)."""

    invoices: list[tuple[str, bool, str, str, Decimal]] = field(default_factory=list)


def _invoices() -> dict[str, Customer]:
    """Invoice totals per customer under the preset's rules (its module docstring); an
    invoice is dated and timed by its first line."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    first: dict[str, tuple[str, str]] = {}  # invoice -> (customer, time)
    seen: set[tuple[str, ...]] = set()
    with gzip.open(FOLDER / "online_retail.csv.gz", "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            key = tuple(row.values())
            if key in seen:  # an exact duplicate line is merged into the first
                continue
            seen.add(key)
            invoice, quantity = row["InvoiceNo"], Decimal(row["Quantity"])
            first.setdefault(invoice, (row["CustomerID"].removesuffix(".0"), row["InvoiceDate"]))
            if row["StockCode"].upper() in FEES:
                continue  # fees are no revenue
            if quantity < 0 and not invoice.startswith("C"):
                continue  # a stock adjustment, not a sale
            totals[invoice] += quantity * Decimal(row["UnitPrice"])
    out: dict[str, Customer] = defaultdict(Customer)
    for invoice, total in totals.items():
        customer, stamp = first[invoice]
        if customer:  # a guest checkout belongs to no customer
            cents = total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            out[customer].invoices.append((stamp[:10], cents < 0, stamp, invoice, cents))
    return out


def _reversed(customer: Customer) -> set[str]:
    """Invoices cancelled in full: each credit note takes the latest earlier (same day or
    before) invoice of exactly its amount that no credit note took yet."""
    open_invoices: dict[Decimal, list[str]] = defaultdict(list)
    gone: set[str] = set()
    for _, credit, _, invoice, amount in sorted(customer.invoices):
        stack = open_invoices[abs(amount)]
        if not credit:
            stack.append(invoice)
        elif stack:
            gone |= {stack.pop(), invoice}
    return gone


def _expected() -> dict[str, tuple[int, int, Decimal]]:
    """Per customer with a purchase day: orders, repeat purchase days, net revenue."""
    expected = {}
    for cid, customer in _invoices().items():
        gone = _reversed(customer)
        days: dict[str, list[Decimal]] = defaultdict(list)
        for day, _, _, invoice, amount in customer.invoices:
            if invoice not in gone:
                days[day].append(amount)
        purchases = [(d, a) for d, c, _, i, a in customer.invoices if not c and i not in gone]
        bought = {d for d, _ in purchases if sum(days[d]) >= 0}
        if bought:
            net = sum(a for _, _, _, _, a in customer.invoices)  # reversed pairs net to 0
            expected[cid] = (len(purchases), len(bought) - 1, net)
    return expected


def test_clv_reports_net_revenue_for_every_customer(tmp_path: Path) -> None:
    out = tmp_path / "clv.csv"
    result = CliRunner().invoke(main, ["clv", str(FOLDER / "campaign.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = _expected()
    got = {r["customer_id"]: (int(r["orders"]), int(r["repeat_purchase_days"]),
                              Decimal(r["monetary"])) for r in rows}
    assert len(got) == len(expected) == json.loads(result.stdout)["customers"]
    assert got == expected
    assert sum(o for o, _, _ in got.values()) == sum(o for o, _, _ in expected.values())
    # 16446's 168,469.60 order 581483 was cancelled the same day (C581484)
    top = sorted(rows, key=lambda r: -float(r["clv_52w"]))[:100]
    assert "16446" not in {r["customer_id"] for r in top}
