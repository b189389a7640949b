"""The peers bench_plan.py runs against crmreport's ``plan``, each alone in a fresh process.

    python bench/plan_peers.py duckdb|duckdb-all|pandas|plan|plan-novalue DATA_DIR [csv|parquet]

The hand-written DuckDB job and the pandas script do the same work: read customers and
orders, RFM as of the demo campaign's as_of (purchases = completed orders before it; tie-aware
quintiles, 5 best), six rules (the demo campaign's five segments, first match wins, and its
channel rule: email with consent, else a letter to an address without objection) and a
cohort matrix (first purchase month x months since, buying customers). Each prints its
segment counts as JSON, so the bench can check that all of them agree with crmreport's.
``duckdb-all`` is the DuckDB job that also reads the other tables ``plan`` reads (order lines,
the contact history, the unsubscribes; the coupon pool, under 1 MB, aside) into tables of
DuckDB's own types and does nothing more with them: the part of the gap that is reading
more files, not doing more with them.
``plan`` is ``pipeline.plan`` on the demo campaign; ``plan-novalue`` the same with the value
models left out (their columns NULL, as when the data are too few to fit them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2026, 3, 1)  # the demo campaign's
SEGMENTS = [  # the demo campaign's, first match wins
    ("champions", "r_score >= 5 AND f_score >= 4 AND m_score >= 4"),
    ("at_risk", "orders >= 3 AND recency_days BETWEEN 180 AND 540"),
    ("new", "orders = 1 AND recency_days <= 90"),
    ("loyal", "r_score >= 3 AND f_score >= 3"),
    ("others", "TRUE"),
]


def _quintile(column: str, order: str) -> str:
    # ties share a rank, so equal values get one score; customers without purchases get none
    return (f"CASE WHEN {column} IS NOT NULL THEN least(5, 1 + floor(5 * (rank() OVER "
            f"(PARTITION BY {column} IS NULL ORDER BY {column} {order}) - 1) / count(*) "
            f"OVER (PARTITION BY {column} IS NULL)))::INTEGER END")


# What plan reads besides customers and orders, the coupon pool aside (the contact history
# is CSV in either format).
OTHER_FILES = (("order_lines", None), ("contacts", "csv"), ("unsubscribes", None))


def duckdb_job(data: Path, fmt: str, every_file: bool = False) -> dict[str, int]:
    from crmreport.engine import connect  # the same settings as crmreport's connection

    con = connect()
    read = "read_parquet" if fmt == "parquet" else "read_csv"
    for name, own in OTHER_FILES if every_file else ():
        ext = own or fmt
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM "
                    f"{'read_parquet' if ext == 'parquet' else 'read_csv'}(?)",
                    [str(data / f"{name}.{ext}")])
    con.execute(f"CREATE TABLE orders AS SELECT * FROM {read}(?)", [str(data / f"orders.{fmt}")])
    con.execute(f"CREATE TABLE customers AS SELECT * FROM {read}(?)",
                [str(data / f"customers.{fmt}")])
    day = f"DATE '{AS_OF}'"
    con.execute(f"""CREATE TABLE rfm AS
        WITH p AS (SELECT customer_id, order_date::DATE AS day, amount::DECIMAL(18,2) AS amount
                   FROM orders WHERE status = 'completed' AND order_date::DATE < {day}),
        o AS (SELECT customer_id, count(*) AS orders, sum(amount) AS monetary,
                     date_diff('day', max(day), {day}) AS recency_days FROM p GROUP BY ALL),
        b AS (SELECT c.customer_id, coalesce(o.orders, 0) AS orders, o.monetary, o.recency_days,
                     c.email IS NOT NULL AND c.email_consent::VARCHAR = 'yes' AS email_ok,
                     c.street IS NOT NULL AND NOT c.mail_objection::BOOLEAN AS letter_ok
              FROM customers c LEFT JOIN o USING (customer_id))
        SELECT *, {_quintile('recency_days', 'DESC')} AS r_score,
               {_quintile('CASE WHEN orders > 0 THEN orders END', 'ASC')} AS f_score,
               {_quintile('monetary', 'ASC')} AS m_score FROM b""")
    cases = " ".join(f"WHEN {rule} THEN '{name}'" for name, rule in SEGMENTS)
    counts = dict(con.execute(f"""SELECT segment, count(*) FROM (SELECT CASE {cases} END
        AS segment, CASE WHEN email_ok THEN 'email' WHEN letter_ok THEN 'letter' END AS channel
        FROM rfm) GROUP BY ALL""").fetchall())
    con.execute(f"""CREATE TABLE cohorts AS
        WITH p AS (SELECT customer_id, date_trunc('month', order_date::DATE) AS month
                   FROM orders WHERE status = 'completed' AND order_date::DATE < {day}),
        f AS (SELECT customer_id, min(month) AS cohort FROM p GROUP BY ALL)
        SELECT cohort, date_diff('month', cohort, month) AS age,
               count(DISTINCT customer_id) AS customers
        FROM p JOIN f USING (customer_id) GROUP BY ALL ORDER BY ALL""")
    return counts


def _quintile_pd(values: Any, ascending: bool) -> Any:
    # rank(method="min") is SQL's rank(): ties share the lowest rank
    ranks = values.rank(method="min", ascending=ascending)
    return (1 + (5 * (ranks - 1) // values.notna().sum())).clip(upper=5)


def pandas_script(data: Path, fmt: str) -> dict[str, int]:
    import numpy as np
    import pandas as pd

    def read(name: str, columns: list[str]) -> pd.DataFrame:
        path = data / f"{name}.{fmt}"
        if fmt == "parquet":
            return pd.read_parquet(path, columns=columns)
        return pd.read_csv(path, usecols=columns, engine="pyarrow", dtype=str)

    orders = read("orders", ["customer_id", "order_date", "amount", "status"])
    customers = read("customers", ["customer_id", "email", "street", "email_consent",
                                   "mail_objection"])
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    orders["amount"] = pd.to_numeric(orders["amount"])
    paid = orders[(orders["status"] == "completed")
                  & (orders["order_date"] < pd.Timestamp(AS_OF))]
    per = paid.groupby("customer_id").agg(orders=("amount", "size"), monetary=("amount", "sum"),
                                          last=("order_date", "max"))
    rfm = customers.set_index("customer_id").join(per)
    rfm["orders"] = rfm["orders"].fillna(0)
    rfm["recency_days"] = (pd.Timestamp(AS_OF) - rfm["last"]).dt.days
    rfm["r_score"] = _quintile_pd(rfm["recency_days"], ascending=False)
    rfm["f_score"] = _quintile_pd(rfm["orders"].where(rfm["orders"] > 0), ascending=True)
    rfm["m_score"] = _quintile_pd(rfm["monetary"], ascending=True)
    r, f, m, n, days = (rfm[c] for c in ("r_score", "f_score", "m_score", "orders",
                                         "recency_days"))
    rules = [(r >= 5) & (f >= 4) & (m >= 4), (n >= 3) & days.between(180, 540),
             (n == 1) & (days <= 90), (r >= 3) & (f >= 3)]
    rfm["segment"] = np.select(rules, [name for name, _ in SEGMENTS[:4]], SEGMENTS[4][0])
    email_ok = rfm["email"].notna() & (rfm["email_consent"] == "yes")
    letter_ok = rfm["street"].notna() & (rfm["mail_objection"].astype(str) != "true")
    rfm["channel"] = np.select([email_ok, letter_ok], ["email", "letter"], "")
    month = paid["order_date"].dt.year * 12 + paid["order_date"].dt.month - 1
    cohort = month.groupby(paid["customer_id"]).transform("min")
    age = month - cohort
    paid.assign(cohort=cohort, age=age).groupby(["cohort", "age"])["customer_id"].nunique()
    return {k: int(v) for k, v in rfm["segment"].value_counts().items()}


def campaign_file(folder: Path, fmt: str) -> Path:
    """The demo campaign reading ``fmt`` files (the contact history and coupons stay CSV)."""
    text = (ROOT / "campaigns" / "demo.yaml").read_text(encoding="utf-8")
    text = text.replace("template_dir: ../templates", f"template_dir: {ROOT / 'templates'}")
    for table in ("customers", "orders", "order_lines", "unsubscribes"):
        text = text.replace(f"{table}.csv", f"{table}.{fmt}")
    path = folder / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def leave_out_value_models() -> None:
    """Replace the value models by their NULL columns, as when there is too little to fit;
    the churn model is fitted still."""
    from crmreport import features
    from crmreport.features.value_models import ValueModel, skip_value_models

    @contextlib.contextmanager
    def no_models(con: Any, as_of: dt.date, model: str = "bgnbd", *,
                  holdout_chart: bool = False) -> Iterator[Callable[[], ValueModel]]:
        yield lambda: skip_value_models(con, as_of)  # the models' input stays a feature

    features.fitting_value_models = no_models  # type: ignore[assignment]


def crmreport_plan(data: Path, fmt: str, value: bool) -> dict[str, int]:
    from crmreport import pipeline
    from crmreport.config import load_campaign

    if not value:
        leave_out_value_models()
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_campaign(campaign_file(Path(tmp), fmt), data_dir=data)
        result = pipeline.plan(loaded)
    return dict(result.segments)


def main() -> None:
    kind, data = sys.argv[1], Path(sys.argv[2])
    fmt = sys.argv[3] if len(sys.argv) > 3 else "csv"
    if kind in ("duckdb", "duckdb-all"):
        counts = duckdb_job(data, fmt, every_file=kind == "duckdb-all")
    elif kind == "pandas":
        counts = pandas_script(data, fmt)
    else:
        counts = crmreport_plan(data, fmt, value=kind == "plan")
    print(json.dumps(dict(sorted(counts.items()))))


if __name__ == "__main__":
    main()
