"""Currencies: the optional rate table, converting orders into the campaign's currency, and
refusing data in which no order is in that currency.

Rates (``data.currency_rates``, a CSV with columns date, currency, rate) give the campaign
currency's units per 1 unit of the named currency from that date on. An order in another
currency is converted at the latest rate on or before its order date; ``amount`` is then in
the campaign's currency, rounded half up (away from zero) to cents, and ``currency`` names
the campaign's. The file's flags count converted orders (``converted_currency``). An order
with no such rate is quarantined (``no_currency_rate``); without a rate table every other
currency is quarantined (``other_currency``).
"""

from __future__ import annotations

from pathlib import Path

from crmreport.account import Account
from crmreport.engine import Connection, columns
from crmreport.errors import DataError
from crmreport.reasons import QUARANTINE as QUARANTINE_REASON
from crmreport.reasons import code
from crmreport.tables import CURRENCY_RATES, ORDERS, QUARANTINE

CURRENCY_REASONS = tuple(code(c, QUARANTINE_REASON) for c in ("other_currency", "no_currency_rate"))


def load_rates(con: Connection, path: Path | None) -> tuple[str, ...]:
    """Create the rate table (empty without a file); return the currencies it rates."""
    con.execute(CURRENCY_RATES.create())
    if path is None:
        return ()
    if not path.is_file():
        raise DataError(f"{path}: currency rate file not found; fix data.currency_rates")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE rates_raw AS SELECT * FROM
        read_csv('{str(path).replace("'", "''")}', all_varchar = true, header = true)""")
    names = [name.strip().lower() for name, _ in columns(con, "rates_raw")]
    if sorted(names) != ["currency", "date", "rate"]:
        raise DataError(f"{path}: columns are {', '.join(names)}; expected date, currency, rate")
    _insert_rates(con, path)
    return tuple(r[0] for r in con.execute(
        f"SELECT DISTINCT rate_currency FROM {CURRENCY_RATES} ORDER BY 1").fetchall())


def _insert_rates(con: Connection, path: Path) -> None:
    """Typed rows into the rate table; a line that does not parse is an error naming it."""
    con.execute("""CREATE OR REPLACE TEMP TABLE rates_typed AS SELECT
        row_number() OVER () + 1 AS line,
        TRY_CAST(trim("date") AS DATE) AS d, upper(trim(currency)) AS c,
        TRY_CAST(trim(rate) AS DECIMAL(18,8)) AS r FROM rates_raw""")
    bad = con.execute("""SELECT line FROM rates_typed WHERE d IS NULL OR r IS NULL OR r <= 0
        OR NOT regexp_full_match(coalesce(c, ''), '[A-Z]{3}') ORDER BY line LIMIT 1""").fetchall()
    if bad:
        raise DataError(f"{path}, line {bad[0][0]}: expected an ISO date, a three-letter "
                        "currency code and a positive rate; fix or remove the line")
    twice = con.execute("""SELECT c, d FROM rates_typed GROUP BY c, d HAVING count(*) > 1
        ORDER BY c, d LIMIT 1""").fetchall()
    if twice:
        raise DataError(f"{path}: two rates for {twice[0][0]} on {twice[0][1]}; keep one")
    con.execute(f"INSERT INTO {CURRENCY_RATES} SELECT d, c, r FROM rates_typed ORDER BY c, d")
    con.execute("DROP TABLE rates_raw")
    con.execute("DROP TABLE rates_typed")


def rate_at() -> str:
    """SQL: the rate for an order row (its currency and order_date, read from the outer
    query: the rate table's own columns have other names); NULL when there is none."""
    return (f"(SELECT arg_max(rate, rate_date) FROM {CURRENCY_RATES} "
            "WHERE rate_currency = currency AND rate_date <= order_date)")


def convert(table: str, currency: str, rated: tuple[str, ...]) -> list[str]:
    """SQL converting the kept rows of ``table`` in a rated currency (half up to cents)."""
    if not rated:
        return []
    codes = ", ".join(f"'{c}'" for c in rated)
    return [f"""UPDATE {table} SET
        amount = round(CAST(amount AS DECIMAL(38,10)) * {rate_at()}, 2),
        currency = '{currency}' WHERE _reason IS NULL AND currency IN ({codes})"""]


def require_campaign_currency(con: Connection, account: Account, currency: str) -> None:
    """Refuse data in which no order is in (or converted to) the campaign's currency."""
    kept = con.execute(f"SELECT count(*) FROM {ORDERS} WHERE currency = ?", [currency]).fetchall()
    if kept[0][0]:
        return
    reasons = ", ".join(f"'{r}'" for r in CURRENCY_REASONS)
    found = con.execute(f"""SELECT upper(trim(json_extract_string(data, '$.currency'))) AS c,
        count(*)
        FROM {QUARANTINE} WHERE tbl = 'orders' AND reason IN ({reasons})
        GROUP BY c ORDER BY count(*) DESC, c""").fetchall()
    if not found:
        return
    files = ", ".join(f.path for f in account.for_table("orders"))
    # Rows of the order files as read (a preset's same-day merge comes after this check).
    listed = ", ".join(f"{code} ({count:,} order row{'' if count == 1 else 's'})"
                       for code, count in found)
    raise DataError(
        f"{files}: no order is in the campaign's currency {currency}; found {listed}. "
        f"Fix: set 'currency: {found[0][0]}' in the campaign file if that is the shop's "
        "currency, or give rates for these currencies in data.currency_rates (a CSV of "
        f"date, currency, rate = {currency} per 1 unit of that currency).")
