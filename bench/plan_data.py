"""A large campaign data folder in crmreport's canonical layout, made by DuckDB COPY.

    python bench/bench_plan.py --generate --orders 20000000 --out /work/bench-data/plan-20m

Deterministic (every value is a hash of the row number) and fast: 20M orders in about a minute
on one core. One customer per 20 orders (1M for 20M); the customer of an order is skewed
towards the early sign-ups (u**2 of a uniform u), so frequencies range from none to ~100 and
recency, frequency and the value models have something to tell apart. The folder holds what
the demo campaign reads: customers.csv, orders.csv, order_lines.csv (one line per order),
contacts.csv (two earlier campaigns), unsubscribes.csv and coupons.csv; ``parquet=True`` also
writes each table as .parquet beside its CSV. It is written to DIR.tmp and renamed when whole.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from crmreport.engine import connect

ORDERS_PER_CUSTOMER = 20
START, DAYS = "2023-03-01", 1096  # three years up to the demo campaign's as_of, 2026-03-01
FIRST_NAMES = ["Anna", "Lena", "Jonas", "Paul", "Emma", "Lukas", "Sophie", "Ben"]


def _unit(expr: str) -> str:
    """A deterministic uniform number in [0, 1) from an integer expression."""
    return f"((hash({expr}) % 1000000007) / 1000000007.0)"


def _pick(options: list[str], expr: str) -> str:
    listed = ", ".join(f"'{o}'" for o in options)
    return f"([{listed}])[1 + (hash({expr}) % {len(options)})::INTEGER]"


def _queries(orders: int) -> dict[str, str]:
    n = max(1, orders // ORDERS_PER_CUSTOMER)
    signup = f"(c * {DAYS} // {n})"  # customer ids rise with their sign-up day
    german = "(hash(c * 3) % 10 < 7)"
    country = (f"CASE WHEN {german} THEN (CASE WHEN hash(c * 5) % 8 = 0 THEN 'AT' ELSE 'DE' END)"
               f" ELSE (CASE WHEN hash(c * 5) % 7 = 0 THEN 'IE' ELSE 'GB' END) END")
    customer = "'C' || lpad((c + 1)::VARCHAR, 7, '0')"
    customers = f"""
        SELECT {customer} AS customer_id,
               'kunde' || (c + 1) || '@example.com' AS email,
               CASE WHEN {german} THEN (CASE WHEN c % 2 = 0 THEN 'Frau' ELSE 'Herr' END)
                    ELSE (CASE WHEN c % 2 = 0 THEN 'Ms' ELSE 'Mr' END) END AS salutation,
               {_pick(FIRST_NAMES, 'c * 11')} AS first_name,
               {_pick(['Müller', 'Schmidt', 'Weber', 'Smith', 'Jones', 'Byrne'], 'c * 13')}
                   AS last_name,
               CASE WHEN c % 17 = 0 THEN 'Beispiel GmbH' ELSE '' END AS company,
               {_pick(['Hauptstraße', 'Bahnhofstraße', 'Gartenweg', 'Lindenallee'], 'c * 17')}
                   || ' ' || (1 + c % 120) AS street,
               CASE WHEN {country} = 'DE'
                        THEN lpad((1067 + hash(c * 19) % 98000)::VARCHAR, 5, '0')
                    WHEN {country} = 'AT' THEN (1010 + hash(c * 19) % 8000)::VARCHAR
                    WHEN {country} = 'IE' THEN 'D08 V83X' ELSE 'EC1A 6DT' END AS postal_code,
               CASE {country} WHEN 'DE' THEN 'Dresden' WHEN 'AT' THEN 'Wien'
                    WHEN 'IE' THEN 'Dublin' ELSE 'London' END AS city,
               {country} AS country,
               CASE {country} WHEN 'DE' THEN 'de_DE' WHEN 'AT' THEN 'de_AT' ELSE 'en_GB' END
                   AS locale,
               strftime(DATE '{START}' + {signup}::INTEGER, '%Y-%m-%d') AS signup_date,
               CASE WHEN hash(c * 23) % 20 < 11 THEN 'yes' WHEN hash(c * 23) % 20 < 16 THEN 'no'
                    ELSE '' END AS email_consent,
               CASE WHEN hash(c * 29) % 20 = 0 THEN 'true' ELSE 'false' END AS mail_objection
        FROM range({n}) t(c)"""
    # the order's customer, skewed to early sign-ups; its day between sign-up and as_of
    picked = f"SELECT i, floor({n} * pow({_unit('i')}, 2))::BIGINT AS c FROM range({orders}) t(i)"
    day = f"(DATE '{START}' + ({signup} + hash(i * 7) % ({DAYS} - {signup}))::INTEGER)"
    order_id = "'O' || lpad((i + 1)::VARCHAR, 9, '0')"
    amount = "((hash(i * 13) % 30000) / 100.0 + 5)::DECIMAL(10,2)"
    orders_sql = f"""
        SELECT {order_id} AS order_id, {customer} AS customer_id,
               strftime({day} + to_seconds((28800 + hash(i * 31) % 50400)::BIGINT),
                        '%Y-%m-%dT%H:%M:%S') || '+01:00' AS ordered_at,
               strftime({day}, '%Y-%m-%d') AS order_date,
               {amount} AS amount, 'EUR' AS currency,
               CASE WHEN i % 40 = 0 THEN 'cancelled' WHEN i % 97 = 0 THEN 'refunded'
                    ELSE 'completed' END AS status,
               CASE WHEN i % 5 = 0 THEN 'store' ELSE 'online' END AS channel
        FROM ({picked})"""
    category = _pick(['outdoor', 'books', 'shoes', 'kitchen', 'garden', 'toys'], 'i * 37')
    lines = f"""
        SELECT {order_id} AS order_id,
               upper(left({category}, 3)) || '-' || lpad((hash(i * 41) % 60)::VARCHAR, 4, '0')
                   AS sku,
               'Artikel ' || (hash(i * 41) % 60) AS product, {category} AS category,
               1 AS quantity, {amount} AS unit_price
        FROM range({orders}) t(i)"""
    # two earlier campaigns, each to about 40% of the customers
    contacts = f"""
        SELECT k.campaign || '-0001' AS run_id, k.campaign, {customer} AS customer_id,
               k.day AS contacted_at,
               CASE WHEN hash(c * 43 + k.n) % 2 = 0 THEN 'email' ELSE 'letter' END AS channel,
               'at_risk' AS segment, k.campaign || '-comeback' AS offer, 'A' AS variant,
               CASE WHEN hash(c * 47 + k.n) % 10 = 0 THEN 'control' ELSE 'treatment' END
                   AS test_group,
               left(md5(k.campaign || c), 16) AS content_hash
        FROM range({n}) t(c),
             (VALUES (1, 'autumn-2025', '2025-10-06'), (2, 'winter-2026', '2026-01-12'))
                 k(n, campaign, day)
        WHERE hash(c * 53 + k.n) % 5 < 2
        ORDER BY k.n, c"""
    unsubscribes = f"""
        SELECT 'kunde' || (c + 1) || '@example.com' AS email, 'email' AS channel,
               'unsubscribe' AS reason,
               strftime(DATE '{START}' + (hash(c * 59) % {DAYS})::INTEGER, '%Y-%m-%d') AS since
        FROM range({n}) t(c) WHERE hash(c * 61) % 100 < 2"""
    # 2654435761 is odd, so i -> i * it mod 2**32 is one-to-one: every code is unique
    coupons = f"""
        SELECT 'BACK-' || upper(lpad(to_hex((i * 2654435761) % 4294967296), 8, '0')) AS code
        FROM range({max(1, n // 4)}) t(i)"""
    return {"customers": customers, "orders": orders_sql, "order_lines": lines,
            "contacts": contacts, "unsubscribes": unsubscribes, "coupons": coupons}


def generate(out: Path, orders: int, parquet: bool = False) -> None:
    """Write the folder (see the module's doc); an existing ``out`` is left as it is."""
    if out.exists():
        return
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    con = connect()
    for name, sql in _queries(orders).items():
        con.execute(f"COPY ({sql}) TO '{tmp / name}.csv' (HEADER, DELIMITER ',')")
        if parquet:
            con.execute(f"COPY (SELECT * FROM read_csv('{tmp / name}.csv', all_varchar = true))"
                        f" TO '{tmp / name}.parquet' (FORMAT parquet)")
    tmp.rename(out)
