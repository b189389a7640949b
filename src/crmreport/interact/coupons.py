"""Unique coupon codes from a pool file, one per treated customer, never used twice.

A pool is a CSV with a ``code`` column (else its first column), one code a row. Codes are
trimmed; blank and repeated codes are skipped, as is every code already in the contact
history. Offers sharing a pool draw from it in offer order; each offer's treated customers
(never the control group, never an excluded customer) get the next free codes in file order,
customers sorted by id. So the same inputs give the same codes, a rerun that contacts no one
uses none, and a code is never handed out twice, within a run or across runs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crmreport.engine import Connection
from crmreport.errors import DataError
from crmreport.tables import CONTACT_PLAN


@dataclass
class CouponCount:
    """Per offer: its pool file, codes still free when its turn came, needed and assigned."""

    pool: str
    available: int
    needed: int
    assigned: int

    @property
    def short(self) -> int:
        return max(self.needed - self.available, 0)

    def as_dict(self) -> dict[str, object]:
        return {"pool": self.pool, "available": self.available, "needed": self.needed,
                "assigned": self.assigned, "short": self.short}


def read_pool(path: Path, offer: str) -> list[str]:
    """The pool's distinct codes in file order."""
    if not path.is_file():
        raise DataError(f"offer '{offer}': coupon pool {path} does not exist; create it (a CSV "
                        "with a 'code' column) or remove the offer's coupons key")
    rows = _pool_rows(path, offer)
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    column = header.index("code") if "code" in header else 0
    seen: dict[str, None] = {}
    for row in rows[1:]:
        code = row[column].strip() if len(row) > column else ""
        if code:
            seen.setdefault(code)
    return list(seen)


def _pool_rows(path: Path, offer: str) -> list[list[str]]:
    """The pool file's rows; a file the csv module cannot read is a clear error."""
    rows: list[list[str]] = []
    read = 0  # lines read up to the end of the last whole record
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            for row in reader:
                rows.append(row)
                read = reader.line_num
        except (csv.Error, UnicodeDecodeError) as exc:
            why = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise DataError(f"offer '{offer}': coupon pool {path}: the record after line "
                            f"{read} cannot be read ({why}); write "
                            "one code per line, each under 131,072 characters, in UTF-8"
                            ) from None
    return rows


def assign_coupons(con: Connection, pools: dict[str, Path], used: set[str],
                   offer_order: list[str]) -> dict[str, CouponCount]:
    """Fill ``contact_plan.coupon`` for treated customers of offers with a pool.

    ``pools`` maps offer id -> pool file, ``used`` holds the codes in the history. A pool too
    small assigns what it has and reports the shortfall; build refuses to write then.
    """
    taken = set(used)
    cache: dict[Path, list[str]] = {}
    counts: dict[str, CouponCount] = {}
    assigned: list[tuple[str, str]] = []
    for offer in offer_order:
        if offer not in pools:
            continue
        path = pools[offer]
        if path not in cache:
            cache[path] = read_pool(path, offer)
        free = [c for c in cache[path] if c not in taken]
        ids = [r[0] for r in con.execute(
            f"SELECT customer_id FROM {CONTACT_PLAN} WHERE excluded IS NULL AND "
            "test_group = 'treatment' AND offer = ? ORDER BY customer_id", [offer]).fetchall()]
        pairs = list(zip(ids, free, strict=False))
        taken.update(code for _, code in pairs)
        assigned += pairs
        counts[offer] = CouponCount(path.name, len(free), len(ids), len(pairs))
    if assigned:
        _fill(con, assigned)
    return counts


def _fill(con: Connection, assigned: list[tuple[str, str]]) -> None:
    """Write the codes into the plan in place: its rows keep their order."""
    frame = pd.DataFrame(assigned, columns=["customer_id", "coupon"], dtype="object")
    con.register("coupon_codes", frame)
    con.execute(f"""UPDATE {CONTACT_PLAN} p SET coupon = CAST(k.coupon AS VARCHAR)
                    FROM coupon_codes k WHERE p.customer_id = CAST(k.customer_id AS VARCHAR)""")
    con.unregister("coupon_codes")


def shortage_message(counts: dict[str, CouponCount]) -> str | None:
    """A message naming every offer whose pool is too small, or None."""
    short = [f"offer '{o}': {c.needed:,} treated customers need a code but pool {c.pool} has "
             f"only {c.available:,} unused" for o, c in counts.items() if c.short]
    if not short:
        return None
    return ("; ".join(short) + "; add codes to the pool (codes in the contact history are "
            "never reused) and run again; nothing was written")
