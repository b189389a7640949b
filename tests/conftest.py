"""Shared fixtures: a tiny shop written the way the crmreport layout expects, and a campaign."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from crmreport.engine import Connection
    from crmreport.pipeline import DemoResult

ROOT = Path(__file__).resolve().parents[1]
TEST_SECRET = "test-secret-0123456789abcdef"

CUSTOMERS = """\
customer_id,email,salutation,first_name,last_name,company,street,postal_code,city,country,locale,signup_date,email_consent,mail_objection
C1,anna@example.de,Frau,Anna,Müller,,Hauptstraße 1,01067,Dresden,DE,de_DE,2024-01-01,yes,false
C2,ben@example.co.uk,Mr,Ben,Smith,,1 High St,SW1A 1AA,London,GB,en_GB,2024-01-01,no,false
C3,,Herr,Jürgen,Weiß,,Ringweg 5,04109,Leipzig,DE,de_DE,2024-01-01,,true
C4,dora@example.de,Frau,Dora,Klein,,Am Markt 2,80331,München,DE,de_DE,2024-01-01,ja,false
C5,eve@example.de,,Eve,Lang,,,,,DE,de_DE,2024-01-01,yes,false
"""

ORDERS = """\
order_id,customer_id,ordered_at,order_date,amount,currency,status,channel
O1,C1,2025-12-01T10:00:00+01:00,2025-12-01,100.00,EUR,completed,online
O2,C1,2026-02-20T10:00:00+01:00,2026-02-20,50.00,EUR,completed,online
O3,C2,2025-06-01T10:00:00+02:00,2025-06-01,20.00,EUR,completed,store
O4,C3,2026-02-25T10:00:00+01:00,2026-02-25,80.00,EUR,completed,online
O5,C4,2025-01-10T10:00:00+01:00,2025-01-10,30.00,EUR,cancelled,online
O6,,2026-01-01T10:00:00+01:00,2026-01-01,15.00,EUR,completed,online
O7,C5,2026-02-01T10:00:00+01:00,2026-02-01,60.00,EUR,completed,online
"""

LINES = """\
order_id,sku,product,category,quantity,unit_price
O1,OUT-1,Jacket,outdoor,1,100.00
O2,BK-1,Book,books,2,25.00
O3,BK-2,Book,books,1,20.00
O4,OUT-2,Tent,outdoor,1,80.00
O5,SH-1,Shoe,shoes,1,30.00
O6,BK-3,Book,books,1,15.00
O7,KI-1,Pan,kitchen,1,60.00
"""

SUPPRESSIONS = "email,channel,reason,since\ndora@example.de,email,unsubscribe,2026-01-01\n"

CAMPAIGN = """\
campaign: test-campaign
as_of: 2026-03-01
template_dir: {templates}
data:
  customers: {{path: customers.csv}}
  orders: {{path: orders.csv}}
  order_lines: {{path: order_lines.csv}}
  contacts: contacts.csv
  suppressions: [{{path: unsubscribes.csv}}]
segments:
  - {{id: recent, when: "recency_days <= 90"}}
  - {{id: others, when: "TRUE"}}
offers:
  - id: vip-preview
    segments: [recent]
    channels: [email, letter]
    templates: {{email: vip, letter: vip}}
policy: {{control_group: {control}, seed: test}}
channels:
  email:
    from: "Shop <news@shop.example>"
    unsubscribe_url: "https://shop.example/u?t={{token}}"
    unsubscribe_mailto: "unsubscribe@shop.example"
  letter: {{return_address: "Shop GmbH · Weg 1 · 01067 Dresden"}}
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A folder with the tiny shop's exports and campaign.yaml (no control group)."""
    return write_shop(tmp_path, control=0.0)


def write_shop(folder: Path, control: float = 0.0, campaign: str | None = None) -> Path:
    files = {"customers.csv": CUSTOMERS, "orders.csv": ORDERS, "order_lines.csv": LINES,
             "unsubscribes.csv": SUPPRESSIONS}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    body = campaign or CAMPAIGN.format(templates=ROOT / "templates", control=control)
    (folder / "campaign.yaml").write_text(textwrap.dedent(body), encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def unsubscribe_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds key their unsubscribe tokens with CRMREPORT_SECRET; tests use a fixed one."""
    monkeypatch.setenv("CRMREPORT_SECRET", TEST_SECRET)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """`crmreport demo` over 1,500 customers, run once for every test that reads its outputs.

    Outputs are in ``demo_run.data_dir.parent``; read them, never change them.
    """
    from crmreport import pipeline

    with pytest.MonkeyPatch.context() as patch:  # built before the autouse fixture runs
        patch.setenv("CRMREPORT_SECRET", TEST_SECRET)
        return pipeline.demo(tmp_path_factory.mktemp("demo"), customers=1500)


SPARK_MASTER = "local[2]"


@pytest.fixture(scope="session")
def spark_session() -> Iterator[SparkSession]:
    """One local Spark (its JVM takes seconds to start) for every Spark test of the run, set
    up as engine/spark.py sets it up; the pipeline's own connect(kind="spark") finds and
    reuses it. Tests that need it skip where pyspark is not installed."""
    pytest.importorskip("pyspark", reason="pyspark is not installed: make test installs "
                                          "the spark extra")
    from crmreport.engine.spark import session

    spark = session(SPARK_MASTER)
    yield spark
    spark.stop()


# The Connect client's retries in the tests: a server that dies fails each remaining test
# within seconds, not after the client's default of at least 10 minutes.
TEST_RETRIES = {"max_retries": 4, "initial_backoff": 500, "backoff_multiplier": 2.0,
                "max_backoff": 4000}


@pytest.fixture(scope="session")
def spark_connect() -> Iterator[str]:
    """A local Spark Connect server (tests/spark_server.py) with one session on it for every
    Connect test of the run: its URL, a master sc://127.0.0.1:PORT. The pipeline's own
    connect(kind="spark") at that URL reuses the session, and leaves it open. Skipped where
    pyspark 4 with its Connect client is not installed."""
    pytest.importorskip("pyspark", reason="pyspark is not installed: make test installs "
                                          "the spark extra")
    from crmreport.spark_setup import missing

    problems = missing("sc://127.0.0.1:15002")
    if problems:
        pytest.skip(problems[0][0])
    from crmreport.engine import spark

    from .spark_server import connect_server

    with connect_server() as server, pytest.MonkeyPatch.context() as patch:
        patch.setattr(spark, "RUN_RETRIES", TEST_RETRIES)
        shared = spark.session(server.url)
        yield server.url
        shared.stop()


@pytest.fixture(scope="session")
def spark_con(spark_session: SparkSession) -> Iterator[Connection]:
    """A Spark connection over the run's one session."""
    from crmreport.engine.spark import SparkConnection

    con = SparkConnection(spark_session)
    yield con
    con.close()
