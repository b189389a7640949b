"""Orders in other currencies: converted with data.currency_rates, quarantined without a
rate, and data with no order in the campaign's currency refused. Expected amounts are worked
out by hand in the comments."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmreport.cli import main
from crmreport.engine import Connection, connect
from crmreport.errors import DataError
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources

RATES = """\
date,currency,rate
2024-03-01,USD,0.5
2024-03-10,USD,0.9
2024-03-20,USD,2.0
2024-03-01,GBP,1.15
"""

ORDERS = """\
order_id,customer_id,order_date,amount,currency,status
o1,c1,2024-03-10,10.00,USD,completed
o2,c1,2024-03-15,20.00,usd,completed
o3,c2,2024-02-28,5.00,USD,completed
o4,c2,2024-03-05,0.30,GBP,completed
o5,c3,2024-03-05,12.34,EUR,completed
o6,c3,2024-03-06,1.00,CHF,completed
"""


def _identify(folder: Path, orders: str, rates: str | None) -> tuple[Connection, dict]:
    (folder / "orders.csv").write_text(orders, encoding="utf-8")
    path = None
    if rates is not None:
        path = folder / "rates.csv"
        path.write_text(rates, encoding="utf-8")
    con = connect()
    staged = load_sources(con, [SourceFile("orders", folder / "orders.csv", "crmreport")])
    identify_tables(con, staged, "EUR", rates=path)
    return con, staged.account.files[0].as_dict()


def test_conversion_at_the_latest_rate_on_or_before_the_order_date(tmp_path: Path) -> None:
    con, entry = _identify(tmp_path, ORDERS, RATES)
    amounts = dict(con.execute("SELECT order_id, amount FROM orders").fetchall())
    assert amounts == {
        "o1": Decimal("9.00"),  # rate on the day: 10.00 * 0.9, not the older 0.5
        "o2": Decimal("18.00"),  # rate before: 20.00 * 0.9 (03-10), not the later 2.0
        "o4": Decimal("0.35"),  # 0.30 * 1.15 = 0.345, half up (half to even gives 0.34)
        "o5": Decimal("12.34"),  # already EUR
    }
    assert {c for (c,) in con.execute("SELECT currency FROM orders").fetchall()} == {"EUR"}
    # o3 predates every USD rate; CHF has no rates at all
    assert entry["reasons"] == {"no_currency_rate": 1, "other_currency": 1}
    assert entry["flags"]["converted_currency"] == 3  # two USD orders and one GBP
    quarantined = dict(con.execute("SELECT reason, json_extract_string(data, '$.order_id') "
                                   "FROM quarantine").fetchall())
    assert quarantined == {"no_currency_rate": "o3", "other_currency": "o6"}


def test_without_rates_other_currencies_stay_quarantined(tmp_path: Path) -> None:
    con, entry = _identify(tmp_path, ORDERS, None)
    assert con.execute("SELECT order_id FROM orders").fetchall() == [("o5",)]
    assert entry["reasons"] == {"other_currency": 5}
    assert not any(code.startswith("converted") for code in entry["flags"])


def test_negative_amounts_round_away_from_zero(tmp_path: Path) -> None:
    orders = ("order_id,customer_id,order_date,amount,currency\n"
              "r1,c1,2024-03-05,-0.30,GBP\nr2,c1,2024-03-05,1,EUR\n")
    con, _ = _identify(tmp_path, orders, RATES)
    # -0.30 * 1.15 = -0.345 -> -0.35
    assert con.execute("SELECT amount FROM orders WHERE order_id = 'r1'").fetchall() == [
        (Decimal("-0.35"),)]


@pytest.mark.parametrize(("rates", "message"), [
    ("date,currency,rate\n2024-03-01,USD,abc\n", "line 2"),
    ("date,currency\n2024-03-01,USD\n", "expected date, currency, rate"),
    ("date,currency,rate\n2024-03-01,USD,1\n2024-03-01,usd,2\n", "two rates for USD"),
])
def test_a_bad_rate_file_is_an_error_naming_the_problem(
        tmp_path: Path, rates: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        _identify(tmp_path, ORDERS, rates)


def test_no_order_in_the_campaign_currency_is_refused(tmp_path: Path) -> None:
    orders = ORDERS.replace(",EUR,", ",USD,")
    with pytest.raises(DataError) as error:
        _identify(tmp_path, orders, None)
    assert ("no order is in the campaign's currency EUR; found USD (4 order rows), "
            "CHF (1 order row), GBP (1 order row)") in str(error.value)


def test_check_fails_naming_the_currencies_found(shop: Path) -> None:
    orders = shop / "orders.csv"
    text = orders.read_text(encoding="utf-8").replace(",EUR,", ",USD,")
    orders.write_text(text.replace("O7,C5,2026-02-01T10:00:00+01:00,2026-02-01,60.00,USD",
                                   "O7,C5,2026-02-01T10:00:00+01:00,2026-02-01,60.00,GBP"),
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(shop / "campaign.yaml")])
    assert result.exit_code == 1, result.output
    assert "found USD (6 order rows), GBP (1 order row)" in result.stderr
    assert "set 'currency: USD'" in result.stderr and "data.currency_rates" in result.stderr
    (shop / "rates.csv").write_text("date,currency,rate\n2025-01-01,USD,0.5\n"
                                    "2025-01-01,GBP,1.25\n", encoding="utf-8")
    campaign = shop / "campaign.yaml"
    campaign.write_text(campaign.read_text(encoding="utf-8").replace(
        "  contacts: contacts.csv\n", "  contacts: contacts.csv\n  currency_rates: rates.csv\n"),
        encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(campaign), "--json"])
    assert result.exit_code == 0, result.output
    entry = next(f for f in json.loads(result.stdout)["files"] if f["table"] == "orders")
    assert entry["flags"]["converted_currency"] == 7  # six USD orders and one GBP
