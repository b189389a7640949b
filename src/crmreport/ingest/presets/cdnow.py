"""CDNOW purchase records (Fader, Hardie and Lee): whitespace-separated, no quoting.

The master file has a header line (customer_id date number_of_cds dollar_value); the 1/10
sample has none and an extra column (the customer's number in the sample). Each record is a
purchase; records of one customer on one day are one order, as in the papers: the first is
the order, later ones are merged into it (``same_day_purchase``), the amount is their sum.
Ids keep their leading zeros. Amounts are US dollars.
"""

from __future__ import annotations

import re

from crmreport.ingest.presets.base import Feed, Preset, RawFile
from crmreport.ingest.readers import ReadOptions
from crmreport.reasons import MERGE, QUARANTINE, quoted

_HEADER = re.compile(r"^\s*customer_id\s+date\s+number_of_cds\s+dollar_value\s*$", re.I)
_RECORD = re.compile(r"^\s*\d+\s+(\d+\s+)?\d{8}\s+\d+\s+[\d.]+\s*$")


def looks_like(found: list[str]) -> bool:
    """Read as CSV, a CDNOW file is one column named by its first line."""
    if found == ["customer_id", "date", "number_of_cds", "dollar_value"]:
        return True
    if len(found) == 5 and all(c.startswith("column") for c in found):
        return True
    return len(found) == 1 and bool(_HEADER.match(found[0]) or _RECORD.match(found[0]))


def _columns(s: RawFile) -> dict[str, str]:
    if s.has("customer_id"):
        return {"id": s.text("customer_id"), "date": s.text("date"),
                "qty": s.text("number_of_cds"), "value": s.text("dollar_value")}
    width = 5 if s.has("column5") else 4
    names = ["id", "sample", "date", "qty", "value"] if width == 5 else [
        "id", "date", "qty", "value"]
    return {n: s.text(f"column{i + 1}") for i, n in enumerate(names)}


def _prepare(s: RawFile) -> str:
    c = _columns(s)
    return f"""CREATE OR REPLACE TEMP TABLE {s.staging}_cd AS
    SELECT _row, {c['id']} AS cid, {c['date']} AS day,
           TRY_CAST({c['qty']} AS INTEGER) AS qty,
           TRY_CAST({c['value']} AS DECIMAL(18,2)) AS value,
           try_strptime({c['date']}, '%Y%m%d')::DATE AS d,
           sum(TRY_CAST({c['value']} AS DECIMAL(18,2)))
               OVER (PARTITION BY {c['id']}, {c['date']}) AS total
    FROM {s.staging}"""


def _orders(s: RawFile) -> tuple[list[str], list[Feed]]:
    source = f"{s.staging}_cd"
    feed = Feed("orders", {
        "_row": "_row", "_dup": quoted("same_day_purchase", MERGE),
        "_reason": f"CASE WHEN qty IS NULL OR value IS NULL THEN {quoted('bad_line', QUARANTINE)} "
                   "END",
        "order_id": "cid || '-' || day", "customer_id": "cid",
        "order_date": "CAST(d AS VARCHAR)", "amount": "CAST(total AS VARCHAR)",
        "currency": "'USD'", "status": "'completed'", "channel": "'online'",
    }, source)
    return [_prepare(s)], [feed]


def _customers(s: RawFile) -> tuple[list[str], list[Feed]]:
    feed = Feed("customers", {"_row": "_row", "customer_id": "cid"}, f"{s.staging}_cd")
    return [_prepare(s)], [feed]


PRESET = Preset(
    name="cdnow",
    description="CDNOW purchase records (whitespace-separated, YYYYMMDD dates)",
    columns={t: {c: c for c in ("customer_id", "date", "number_of_cds", "dollar_value",
                                "column1", "column2", "column3", "column4", "column5")}
             for t in ("orders", "customers")},
    read=ReadOptions(format="whitespace"),
    transforms={"orders": _orders, "customers": _customers},
    required={"orders": (), "customers": ()},
    sniff=looks_like,
)
