"""Engine parity: a campaign run on Spark gives what it gives on DuckDB.

Each case runs a dry-run build (the path ``plan`` and ``build`` take, rendering included)
once per engine into its own folder, and collects what must agree: the account of every
input row, the features table (floats to 1e-9, everything else exactly), every customer's
segment and offer, every planned customer's channel, group, variant, exclusion and coupon,
the plan, and the folder's files (plan.json, contacts.csv and the rest) byte for byte.

Over the demo's two runs, `check` (printed account, exit code, quarantine file), the
report's figures (`report --json` and every table it is drawn from) and `preview`'s files
are compared too; and every kind of input (Parquet, info lines, ragged rows, whitespace,
presets) is read and identified on both engines.

The fixtures' shop is also run over Spark Connect (a local server, tests/spark_server.py),
and the demo's `plan` there must print DuckDB's counts.

The harness is checked on itself without Spark: DuckDB against DuckDB agrees, and a planted
difference of each kind is found. The Spark side needs pyspark (``make test`` installs the
spark extra) and is skipped only when pyspark cannot be imported (Spark Connect: pyspark 4
with its Connect client).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import itertools
import json
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crmreport import pipeline
from crmreport.config import load_campaign, with_engine
from crmreport.demo import generate, project_file
from crmreport.outputs import json_text
from crmreport.spark_setup import is_connect
from crmreport.tables import ASSIGNMENTS, CONTACT_PLAN, FEATURES

from .conftest import CUSTOMERS as CUSTOMERS_CSV
from .conftest import ORDERS as ORDERS_CSV
from .conftest import ROOT, SPARK_MASTER, TEST_SECRET

FLOAT_TOLERANCE = 1e-9


@dataclasses.dataclass
class Outcome:
    """What one engine made of a campaign; ``files`` are the dry run's folder, by name."""

    account: dict[str, Any]
    features: dict[str, tuple[Any, ...]]
    assignments: dict[str, tuple[Any, ...]]
    contact_plan: dict[str, tuple[Any, ...]]
    plan: str
    files: dict[str, bytes]
    run: Any = dataclasses.field(default=None, compare=False, repr=False)  # for later commands

    def rows(self) -> int:
        return len(self.features) + len(self.assignments) + len(self.contact_plan)


def outcome(campaign: Path, data_dir: Path, engine: str, out: Path,
            master: str = SPARK_MASTER) -> Outcome:
    """Run ``campaign`` as ``build --dry-run --engine <engine>`` into ``out`` and collect;
    Spark at ``master``."""
    loaded = with_engine(load_campaign(campaign, data_dir), engine,
                         master if engine == "spark" else None)
    runs: list[Any] = []
    prepare = pipeline.prepare

    def kept(*args: Any, **kwargs: Any) -> Any:  # the run the dry run prepares, kept
        runs.append(prepare(*args, **kwargs))
        return runs[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "prepare", kept)
        if engine == "spark":  # the run outlives the job (read here, by later commands)
            from crmreport.engine.spark import SparkConnection

            patch.setattr(SparkConnection, "close", lambda self: None)
        built = pipeline.dry_run(loaded, out, TEST_SECRET)
    [run] = runs
    folder = built.out_dir
    files = ({p.relative_to(folder).as_posix(): p.read_bytes()
              for p in sorted(folder.rglob("*")) if p.is_file()} if folder.is_dir() else {})
    return Outcome(
        account=run.account.as_dict(),
        features=_keyed(run.con, FEATURES.name, list(FEATURES.columns)),
        assignments=_keyed(run.con, ASSIGNMENTS.name, ["customer_id", "segment", "offer"]),
        contact_plan=_keyed(run.con, CONTACT_PLAN.name, list(CONTACT_PLAN.columns)),
        plan=json_text(built.plan.as_dict()),
        files=files, run=run)


def _keyed(con: Any, table: str, columns: list[str]) -> dict[str, tuple[Any, ...]]:
    """The table's rows by customer id (its first column), each as a (column, value) tuple."""
    # plain names, no quotes: "x" is an identifier in DuckDB but a string in Spark SQL
    rows = con.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY customer_id"
                       ).fetchall()
    keyed = {str(row[0]): tuple(zip(columns, row, strict=True)) for row in rows}
    assert len(keyed) == len(rows), f"{table}: a customer id repeats"
    return keyed


def differences(a: Outcome, b: Outcome) -> list[str]:
    """Every way ``b`` differs from ``a``, each named (customer ids are test data)."""
    found = [f"account: {a.account} != {b.account}"] if a.account != b.account else []
    for name in ("features", "assignments", "contact_plan"):
        found += _table_differences(name, getattr(a, name), getattr(b, name))
    if a.plan != b.plan:
        found.append(f"plan differs: {_first_difference(a.plan.encode(), b.plan.encode())}")
    for file in sorted(a.files.keys() | b.files.keys()):
        x, y = a.files.get(file), b.files.get(file)
        if x is None or y is None:
            found.append(f"file {file} only on one side")
        elif x != y:
            found.append(f"file {file} differs: {_first_difference(x, y)}")
    return found


def _first_difference(a: bytes, b: bytes) -> str:
    """Where two texts part: the first line that differs, on each side (None: no line)."""
    pairs = itertools.zip_longest(a.splitlines(keepends=True), b.splitlines(keepends=True))
    return next(f"line {number}: {x!r:.120} != {y!r:.120}"
                for number, (x, y) in enumerate(pairs, 1) if x != y)


def _table_differences(name: str, a: dict[str, tuple[Any, ...]],
                       b: dict[str, tuple[Any, ...]]) -> list[str]:
    found = [f"{name}: customers on one side only: {sorted(a.keys() ^ b.keys())[:5]}"] \
        if a.keys() != b.keys() else []
    for customer in sorted(a.keys() & b.keys()):
        for (column, x), (_, y) in zip(a[customer], b[customer], strict=True):
            if not same_value(x, y):
                found.append(f"{name}.{column} of {customer}: {x!r} != {y!r}")
    return found


def same_value(x: Any, y: Any) -> bool:
    """Equal values of equal types; floats within FLOAT_TOLERANCE (relative, or absolute
    near zero), NaN equal to NaN."""
    if isinstance(x, float) and isinstance(y, float):
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return math.isclose(x, y, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    return type(x) is type(y) and x == y


# --- The harness on itself ------------------------------------------------------------------


def test_same_value_is_exact_except_for_floats() -> None:
    assert same_value(0.1 + 0.2, 0.3) and same_value(1e12, 1e12 + 1e-4)
    assert not same_value(1.0, 1.0 + 2e-9) and not same_value(0.0, 2e-9)
    assert same_value(float("nan"), float("nan")) and not same_value(float("nan"), 0.0)
    assert not same_value(Decimal("1.50"), 1.5)  # a DECIMAL that came back as a double
    assert not same_value(1, True) and not same_value(dt.date(2026, 3, 1), "2026-03-01")
    assert same_value(None, None) and not same_value(None, "")


@pytest.fixture(scope="module")
def duckdb_twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, Outcome]:
    shop = write_parity_shop(tmp_path_factory.mktemp("twice"), "variants")
    out = shop / "out"
    return (outcome(shop / "campaign.yaml", shop, "duckdb", out / "duckdb"),
            outcome(shop / "campaign.yaml", shop, "duckdb", out / "again"))


def test_duckdb_against_duckdb_agrees_on_every_row(duckdb_twice: tuple[Outcome, Outcome]
                                                   ) -> None:
    first, second = duckdb_twice
    assert differences(first, second) == []
    assert len(first.features) == len(first.assignments) == CUSTOMERS
    assert first.contact_plan and {"plan.json", "contacts.csv"} <= first.files.keys()


def _planted(outcome: Outcome, table: str, customer: str, column: str, value: Any) -> Outcome:
    rows = dict(getattr(outcome, table))
    rows[customer] = tuple((c, value if c == column else v) for c, v in rows[customer])
    return dataclasses.replace(outcome, **{table: rows})


@pytest.mark.parametrize(("table", "column", "change"), [
    ("features", "days_overdue", lambda v: v + 1e-7),
    ("features", "monetary", lambda v: float(v)),
    ("features", "recency_days", lambda v: v + 1),
    ("assignments", "segment", lambda v: "other"),
    ("contact_plan", "variant", lambda v: "Z"),
    ("contact_plan", "test_group", lambda v: None),
])
def test_a_planted_difference_in_a_table_is_found(duckdb_twice: tuple[Outcome, Outcome],
                                                  table: str, column: str, change: Any) -> None:
    first, second = duckdb_twice
    rows = getattr(first, table)
    customer = next(c for c, row in rows.items() if dict(row)[column] is not None)
    before = dict(rows[customer])[column]
    planted = _planted(second, table, customer, column, change(before))
    assert differences(first, planted) == [
        f"{table}.{column} of {customer}: {before!r} != {change(before)!r}"]


def test_a_planted_difference_in_a_file_the_plan_or_the_account_is_found(
        duckdb_twice: tuple[Outcome, Outcome]) -> None:
    first, second = duckdb_twice
    contacts = second.files["contacts.csv"]
    files = {**second.files, "contacts.csv": contacts[:-2] + bytes([contacts[-2] ^ 1]) +
             contacts[-1:]}
    [found] = differences(first, dataclasses.replace(second, files=files))
    last = len(contacts.splitlines())
    assert found.startswith(f"file contacts.csv differs: line {last}: ")
    missing = {k: v for k, v in second.files.items() if k != "plan.json"}
    assert differences(first, dataclasses.replace(second, files=missing)) == [
        "file plan.json only on one side"]
    [found] = differences(first, dataclasses.replace(second, plan=second.plan + "x"))
    assert found.startswith(f"plan differs: line {second.plan.count(chr(10)) + 1}: None != ")
    account = json.loads(json.dumps(second.account))
    account["files"][0]["loaded"] += 1
    assert differences(first, dataclasses.replace(second, account=account))[0].startswith(
        "account:")
    fewer = dict(list(second.features.items())[1:])
    assert differences(first, dataclasses.replace(second, features=fewer))[0].startswith(
        "features: customers on one side only")


def _file(outcome: Outcome, table: str) -> dict[str, Any]:
    return next(f for f in outcome.account["files"] if f["table"] == table)


def _planned(outcome: Outcome, column: str) -> list[Any]:
    return [dict(row)[column] for row in outcome.contact_plan.values()]


# What each fixture must hold, so that parity on it means parity on its edge cases.
EDGES: dict[str, Any] = {
    "guests": lambda o: _file(o, "orders")["flags"] == {"guest_order": 3},
    "duplicates": lambda o: (_file(o, "customers")["reasons"]
                             == {"duplicate_customer_id": 1, "same_person": 1}
                             and _file(o, "orders")["reasons"] == {"duplicate_order_id": 1}),
    "cancellations": lambda o: (_file(o, "orders")["reasons"] == {"unknown_status": 1}
                                and any(dict(r)["cancelled_orders"] for r in o.features.values())),
    "consent": lambda o: (_file(o, "customers")["flags"]
                          == {"invalid_email": 1, "unrecognised_consent": 4}
                          and _planned(o, "excluded").count("no_permission") > 10),
    "suppressions": lambda o: ("suppressed" in _planned(o, "excluded")
                               and _file(o, "suppressions")["reasons"]
                               == {"no_identifier": 2, "unknown_channel": 1}),
    "caps": lambda o: {"already_contacted", "frequency_cap", "quiet_period"}
    <= set(_planned(o, "excluded")),
    "variants": lambda o: set(_planned(o, "variant")) == {"A", "B", "C", None},
    "coupons": lambda o: (len([c for c in _planned(o, "coupon") if c]) >= 10
                          and not {f"SPRING-{n:04d}" for n in range(1, 6)}
                          & set(_planned(o, "coupon"))),
}


@pytest.mark.parametrize("case", list(EDGES))
def test_each_fixture_holds_its_edge_cases(case: str, tmp_path: Path) -> None:
    shop = write_parity_shop(tmp_path / case, case)
    assert EDGES[case](outcome(shop / "campaign.yaml", shop, "duckdb", tmp_path / "out"))


# --- DuckDB against Spark ------------------------------------------------------------------


@pytest.fixture
def spark(spark_session: Any) -> Any:
    """The run's one Spark session (conftest); the engine's connect(kind="spark") reuses it."""
    return spark_session


@pytest.fixture(params=["local", "connect"])
def spark_master(request: pytest.FixtureRequest) -> str:
    """Where a test's Spark runs: the run's local Spark, or over Spark Connect (a local
    server, conftest); the engine's connect(kind="spark") reuses either's session."""
    if request.param == "connect":
        return str(request.getfixturevalue("spark_connect"))
    request.getfixturevalue("spark_session")
    return SPARK_MASTER


def assert_parity(campaign: Path, data_dir: Path, out: Path, capsys: pytest.CaptureFixture[str],
                  left_out: tuple[str, ...] = (), master: str = SPARK_MASTER
                  ) -> tuple[Outcome, Outcome]:
    """Both engines on ``campaign`` (DuckDB's outcome, Spark's at ``master``); says how many
    rows and files it compared. The features ``left_out`` are not compared."""
    duckdb = outcome(campaign, data_dir, "duckdb", out / "duckdb")
    spark = outcome(campaign, data_dir, "spark", out / "spark", master)
    found = differences(*(dataclasses.replace(o, features=_without(o.features, left_out))
                          for o in (duckdb, spark)))
    assert not found, f"{len(found)} differences, the first: " + "; ".join(found[:10])
    with capsys.disabled():
        print(f"\nparity {data_dir.name}: {duckdb.rows():,} table rows and "
              f"{len(duckdb.files)} files equal on DuckDB and Spark {pyspark_version()}"
              + (" over Spark Connect" if is_connect(master) else ""))
    return duckdb, spark


def _without(rows: dict[str, tuple[Any, ...]], columns: tuple[str, ...]
             ) -> dict[str, tuple[Any, ...]]:
    return {key: tuple(pair for pair in row if pair[0] not in columns)
            for key, row in rows.items()}


def pyspark_version() -> str:
    import pyspark

    return str(pyspark.__version__)


def test_spark_equals_duckdb_on_every_fixture_at_once(spark_master: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """One shop with every fixture's edits: a Spark run takes a minute or more here (each
    statement is materialised), so the fixtures share one. On local Spark and over Spark
    Connect."""
    shop = write_parity_shop(tmp_path / "every", "every")
    duckdb, _ = assert_parity(shop / "campaign.yaml", shop, tmp_path / "out", capsys,
                              master=spark_master)
    assert [case for case, holds in EDGES.items() if holds(duckdb)] == HELD_TOGETHER
    # the other fixtures' edge cases, with the counts the edits together give
    assert {"duplicate_customer_id", "same_person"} <= _file(duckdb, "customers")["reasons"].keys()
    assert {"duplicate_order_id", "unknown_status"} <= _file(duckdb, "orders")["reasons"].keys()
    assert {"frequency_cap", "quiet_period"} <= set(_planned(duckdb, "excluded"))
    coupons = {c for c in _planned(duckdb, "coupon") if c}
    assert coupons and not {f"SPRING-{n:04d}" for n in range(1, 6)} & coupons


def test_spark_equals_duckdb_on_the_demo(spark: Any, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The demo campaign over a small demo shop (`crmreport demo`'s generator). The CLI's
    `plan --json` is not run again on Spark: it prints the plan compared here as plan.json,
    and a second Spark run would double the test's time."""
    data = tmp_path / "data"
    generate(data, customers=DEMO_CUSTOMERS)
    campaign = project_file("campaigns", "demo.yaml")
    runs = assert_parity(campaign, data, tmp_path / "out", capsys)
    # check and report over the runs just prepared (a second Spark run would double the time)
    duckdb, spark = (commands(o, campaign, data, kind, tmp_path / kind)
                     for o, kind in zip(runs, ("duckdb", "spark"), strict=True))
    assert duckdb.exit_code == 0 and "customers.csv" in duckdb.check
    assert duckdb.monitoring.migration is not None and duckdb.proofs
    found = [f"check: {name}" for name in ("exit_code", "check", "quarantine")
             if getattr(spark, name) != getattr(duckdb, name)]
    found += monitoring_differences(duckdb.monitoring, spark.monitoring)
    found += [] if spark.figures == duckdb.figures else [
        f"report --json: {_first_difference(duckdb.figures.encode(), spark.figures.encode())}"]
    found += [f"preview file {n} differs or is missing" for n in
              sorted(duckdb.proofs.keys() | spark.proofs.keys())
              if spark.proofs.get(n) != duckdb.proofs.get(n)]
    assert not found, f"{len(found)} differences: " + "; ".join(found[:10])
    with capsys.disabled():
        print(f"parity demo commands: check's account of {len(runs[0].account['files'])} "
              f"files, report --json ({len(duckdb.figures):,} characters), the report's "
              f"tables and {len(duckdb.proofs)} preview files equal")


def test_plan_over_spark_connect_prints_the_counts_of_duckdb(spark_connect: str, tmp_path: Path
                                                             ) -> None:
    """`crmreport plan` on the demo campaign over Spark Connect prints what the default engine
    prints. The demo's whole parity (above) runs on local Spark only: over Connect it would
    add minutes to CI (bench/README.md), and the fixtures' parity runs over both."""
    from click.testing import CliRunner

    from crmreport.cli import main

    data = tmp_path / "data"
    generate(data, customers=DEMO_CUSTOMERS)
    command = ["--quiet", "plan", str(project_file("campaigns", "demo.yaml")),
               "--data-dir", str(data)]
    default = CliRunner().invoke(main, command)
    connect = CliRunner().invoke(main, [*command, "--engine", "spark",
                                        "--spark-master", spark_connect])
    assert default.exit_code == connect.exit_code == 0, connect.stderr[-2000:]
    assert "to contact" in default.stdout and "segments: " in default.stdout
    assert connect.stdout == default.stdout


@dataclasses.dataclass
class Commands:
    """What `check` printed (and its exit code and quarantine file), the report's
    monitoring and its `report --json` text, and preview's files, for one engine."""

    exit_code: int
    check: str
    quarantine: str
    monitoring: Any
    figures: str
    proofs: dict[str, bytes]  # preview's folder, by name


def commands(prepared: Outcome, campaign: Path, data_dir: Path, engine: str,
             out: Path) -> Commands:
    """`check --engine <engine>`, the report's figures and `preview`, each over
    ``prepared``'s run in place of preparing its own."""
    from click.testing import CliRunner

    from crmreport.cli import main
    from crmreport.config import load_report
    from crmreport.report.summary_json import summary_json

    out.mkdir(parents=True, exist_ok=True)
    quarantine = out / "quarantine.csv"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "prepare", lambda *args, **kwargs: prepared.run)
        checked = CliRunner().invoke(main, [
            "--quiet", "check", str(campaign), "--data-dir", str(data_dir), "--engine", engine,
            "--quarantine", str(quarantine)])
        loaded = with_engine(load_campaign(campaign, data_dir), engine,
                             SPARK_MASTER if engine == "spark" else None)
        definition = load_report(ROOT / "reports" / "weekly.yaml")
        inputs = pipeline.monitor_report(loaded, definition)
        pipeline.preview(loaded, out / "preview")
    proofs = {p.relative_to(out).as_posix(): p.read_bytes()
              for p in sorted((out / "preview").rglob("*")) if p.is_file()}
    return Commands(checked.exit_code, checked.output.replace(str(quarantine), "QUARANTINE"),
                    quarantine.read_text(encoding="utf-8") if quarantine.exists() else "",
                    inputs.monitoring,
                    summary_json(inputs.monitoring, inputs.summary, inputs.definition), proofs)


def monitoring_differences(a: Any, b: Any) -> list[str]:
    """Every figure of the report's monitoring that differs (tables: values as in
    ``same_value``; anything else: equal)."""
    import pandas as pd

    found = []
    for name, x in vars(a).items():
        y = getattr(b, name)
        for path, u, v in _leaves(name, x, y):
            if isinstance(u, pd.DataFrame):
                if list(u.columns) != list(v.columns) or len(u) != len(v):
                    found.append(f"{path}: shape {u.shape} != {v.shape}")
                    continue
                found += [f"{path}[{i}].{c}: {p!r} != {q!r}"
                          for c in u.columns for i, (p, q) in enumerate(zip(
                              u[c].tolist(), v[c].tolist(), strict=True))
                          if not (same_value(p, q) or _both_missing(p, q))]
            elif not (same_value(u, v) or u == v):
                found.append(f"{path}: {u!r} != {v!r}")
    return found


def _leaves(path: str, x: Any, y: Any) -> Iterator[tuple[str, Any, Any]]:
    """Pairs of values at the same place in two dataclasses, lists or dicts."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        for name in vars(x):
            yield from _leaves(f"{path}.{name}", getattr(x, name), getattr(y, name, None))
    elif isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
        for key in x:
            yield from _leaves(f"{path}[{key!r}]", x[key], y[key])
    elif isinstance(x, list | tuple) and isinstance(y, list | tuple) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            yield from _leaves(f"{path}[{i}]", u, v)
    else:
        yield path, x, y


def _both_missing(x: Any, y: Any) -> bool:
    import pandas as pd

    try:  # NaN, None and NaT: no value on either side
        return bool(pd.isna(x)) and bool(pd.isna(y))
    except (TypeError, ValueError):  # not a scalar
        return False


# --- The fixtures ---------------------------------------------------------------------------

CUSTOMERS = 48
DEMO_CUSTOMERS = 200  # Spark's time grows with the statements far more than the rows
AS_OF = dt.date(2026, 3, 1)
CUSTOMER_COLUMNS = ["customer_id", "email", "salutation", "first_name", "last_name", "company",
                    "street", "postal_code", "city", "country", "locale", "signup_date",
                    "email_consent", "mail_objection"]
ORDER_COLUMNS = ["order_id", "customer_id", "ordered_at", "order_date", "amount", "currency",
                 "status", "channel"]
LINE_COLUMNS = ["order_id", "sku", "product", "category", "quantity", "unit_price"]
CONTACT_COLUMNS = ["run_id", "campaign", "customer_id", "contacted_at", "channel", "segment",
                   "offer", "variant", "test_group", "content_hash", "coupon"]
CATEGORIES = ("outdoor", "books", "kitchen", "shoes")


def _customer(i: int) -> dict[str, str]:
    german = i % 3 != 0
    return {"customer_id": f"C{i:03d}", "email": f"kunde{i}@example.de" if i % 7 else "",
            "salutation": "Frau" if i % 2 else "Herr", "first_name": f"Vorname{i}",
            "last_name": f"Nachname{i}", "company": "Firma GmbH" if i % 11 == 0 else "",
            "street": f"Hauptstraße {i}" if german else f"{i} High Street",
            "postal_code": f"{1067 + i:05d}" if german else "SW1A 1AA",
            "city": "Dresden" if german else "London", "country": "DE" if german else "GB",
            "locale": "de_DE" if german else "en_GB",
            "signup_date": (AS_OF - dt.timedelta(days=30 + 17 * i)).isoformat(),
            "email_consent": ("yes", "no", "", "ja")[i % 4],
            "mail_objection": "true" if i % 9 == 0 else "false"}


def _orders(i: int) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """Customer i's orders (0 to 5, spread over two years) with one line each."""
    for k in range(i % 6):
        day = AS_OF - dt.timedelta(days=(i * 37 + k * 113) % 700 + 1)
        amount = Decimal(10 + (i * 13 + k * 7) % 190) + Decimal((i + k) % 100) / 100
        order = {"order_id": f"O{i:03d}-{k}", "customer_id": f"C{i:03d}",
                 "ordered_at": f"{day}T10:{k:02d}:00+01:00", "order_date": day.isoformat(),
                 "amount": f"{amount:.2f}", "currency": "EUR", "status": "completed",
                 "channel": "online" if k % 2 else "store"}
        line = {"order_id": order["order_id"], "sku": f"SKU-{(i + k) % 9}",
                "product": "Produkt", "category": CATEGORIES[(i + k) % 4], "quantity": "1",
                "unit_price": order["amount"]}
        yield order, line


CAMPAIGN = """\
campaign: parity
as_of: {as_of}
template_dir: {templates}
data:
  customers: {{path: customers.csv}}
  orders: {{path: orders.csv}}
  order_lines: {{path: order_lines.csv}}
  contacts: contacts.csv
  suppressions: [{{path: suppressions.csv}}]
segments:
  - {{id: recent, when: "recency_days <= 120 AND orders >= 2"}}
  - {{id: lapsed, when: "orders >= 1"}}
  - {{id: others, when: "TRUE"}}
offers:
  - id: vip-preview
    segments: [recent]
    priority: 10
    value: "coalesce(monetary / 10, 1)"
    channels: [email, letter]
    templates: {{email: vip, letter: vip}}
  - id: winback-15
    segments: [lapsed]
    when: "NOT bought_category('kitchen', 365)"
    priority: 5
    value: 4
    channels: [email, letter]
    templates: {{email: winback, letter: winback}}
{extra_offer}policy:
{policy}  control_group: {control}
  seed: parity
{variants}channels:
  email:
    from: "Shop <news@shop.example>"
    unsubscribe_url: "https://shop.example/u?t={{token}}"
    unsubscribe_mailto: "unsubscribe@shop.example"
  letter: {{return_address: "Shop GmbH · Weg 1 · 01067 Dresden"}}
"""

COUPON_OFFER = """\
    coupons: {pool: coupons.csv, valid_days: 30}
"""


def write_parity_shop(folder: Path, case: str) -> Path:
    """A shop of CUSTOMERS customers, with the edge rows of ``case`` added."""
    folder.mkdir(parents=True, exist_ok=True)
    customers = [_customer(i) for i in range(1, CUSTOMERS + 1)]
    orders, lines = map(list, zip(*[pair for i in range(1, CUSTOMERS + 1)
                                    for pair in _orders(i)], strict=True))
    suppressions: list[list[str]] = []
    contacts: list[list[str]] = []
    settings = {"policy": "", "control": "0.2", "variants": "", "extra_offer": ""}
    edit = CASE_EDITS[case]
    edit(customers, orders, lines, suppressions, contacts, settings)
    _write(folder / "customers.csv", CUSTOMER_COLUMNS, [list(c.values()) for c in customers])
    _write(folder / "orders.csv", ORDER_COLUMNS, [list(o.values()) for o in orders])
    _write(folder / "order_lines.csv", LINE_COLUMNS, [list(x.values()) for x in lines])
    _write(folder / "suppressions.csv", ["customer_id", "email", "channel", "reason", "since"],
           suppressions)
    if contacts:
        _write(folder / "contacts.csv", CONTACT_COLUMNS, contacts)
    (folder / "coupons.csv").write_text(
        "code\n" + "".join(f"SPRING-{n:04d}\n" for n in range(1, 41)), encoding="utf-8")
    (folder / "campaign.yaml").write_text(CAMPAIGN.format(
        as_of=AS_OF, templates=ROOT / "templates", **settings), encoding="utf-8")
    return folder


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


Rows = list[dict[str, str]]


def _guests(customers: Rows, orders: Rows, lines: Rows, *_: Any) -> None:
    """Guest checkouts (no customer id), one with the email of a customer."""
    for k, day in enumerate(("2026-02-20", "2025-11-02", "2025-06-30")):
        orders.append({"order_id": f"G{k}", "customer_id": "", "ordered_at": f"{day}T09:00:00Z",
                       "order_date": day, "amount": f"{20 + k}.50", "currency": "EUR",
                       "status": "completed", "channel": "online"})
        lines.append({"order_id": f"G{k}", "sku": "SKU-1", "product": "Buch",
                      "category": "books", "quantity": "1", "unit_price": f"{20 + k}.50"})


def _duplicates(customers: Rows, orders: Rows, lines: Rows, *_: Any) -> None:
    """A repeated customer id filling an empty field, one person under two ids, a repeated
    order id, an exact duplicate line, a second purchase on the same day."""
    customers.append({**customers[6], "email": "kunde7@example.de", "city": "Leipzig"})
    customers.append({**customers[1], "customer_id": "C900", "email": "KUNDE2@example.de "})
    orders.append({**orders[0], "amount": "999.00"})
    lines.append(dict(lines[1]))
    orders.append({**orders[2], "order_id": "O-SAME-DAY", "amount": "5.00"})
    lines.append({**lines[2], "order_id": "O-SAME-DAY", "unit_price": "5.00"})


def _cancellations(customers: Rows, orders: Rows, lines: Rows, *_: Any) -> None:
    """Cancelled and refunded orders, credit notes (negative amounts) and an unpaid one."""
    for n, order in enumerate(orders[:12]):
        if n % 4 == 0:
            order["status"] = ("cancelled", "storniert", "refunded")[n % 3]
    for n, order in enumerate(orders[12:16]):
        orders.append({**order, "order_id": f"CN{n}", "amount": f"-{order['amount']}",
                       "status": "gutschrift" if n % 2 else "completed"})
    orders.append({**orders[20], "order_id": "UNPAID", "status": "pending"})


def _consent(customers: Rows, *_: Any) -> None:
    """Every way of writing consent and objection, an invalid and a shared email."""
    values = ("yes", "no", "", "ja", "nein", "JA ", "maybe", "1", "0", "true", "false", "y")
    for n, customer in enumerate(customers):
        customer["email_consent"] = values[n % len(values)]
        customer["mail_objection"] = ("true", "false", "", "ja", "x")[n % 5]
    customers[3]["email"] = "not an address"
    customers[5]["email"] = customers[4]["email"]
    customers[8]["street"] = customers[8]["postal_code"] = ""


def _suppressions(customers: Rows, orders: Rows, lines: Rows, suppressions: list[list[str]],
                  *_: Any) -> None:
    """By email and by id, per channel and for all, in other spellings; one unusable."""
    for n, customer in enumerate(customers[:24]):
        channel = ("email", "letter", "all", "E-Mail", "post", "*")[n % 6]
        by_id = n % 2 == 0
        suppressions.append([customer["customer_id"] if by_id else "",
                             "" if by_id else customer["email"].upper(), channel,
                             "unsubscribe", "2026-01-01"])
    suppressions.append(["", "", "email", "bounce", "2026-01-01"])  # no identifier
    suppressions.append(["C010", "", "fax", "objection", "2026-01-01"])  # unknown channel


def _caps(customers: Rows, orders: Rows, lines: Rows, suppressions: list[list[str]],
          contacts: list[list[str]], settings: dict[str, str]) -> None:
    """A history with contacts inside and outside the cap and quiet period, and this
    campaign's own earlier run."""
    settings["policy"] = "  max_contacts: {count: 2, days: 90}\n  quiet_days: 14\n"
    for n, customer in enumerate(customers):
        cid = customer["customer_id"]
        days = (5, 20, 40, 100)[n % 4]
        for k in range(n % 3 + 1):
            day = AS_OF - dt.timedelta(days=days + 7 * k)
            contacts.append([f"old-{k}", f"other-{k}", cid, day.isoformat(), "email", "x",
                             "y", "A", "treatment", "", ""])
        if n % 10 == 0:
            contacts.append(["parity-1", "parity", cid, "2025-12-01", "letter", "lapsed",
                             "winback-15", "A", "control", "", ""])


def _variants(*args: Any) -> None:
    """A/B/C variants of uneven shares, with a larger control group."""
    settings = args[5]
    settings["control"] = "0.3"
    settings["variants"] = ("variants:\n  - {id: A, share: 0.5}\n  - {id: B, share: 0.3}\n"
                            "  - {id: C, share: 0.2}\n")


def _coupons(customers: Rows, orders: Rows, lines: Rows, suppressions: list[list[str]],
             contacts: list[list[str]], settings: dict[str, str]) -> None:
    """An offer with a coupon pool, some codes already given out in the history."""
    settings["extra_offer"] = ("  - id: welcome-back\n    segments: [others, lapsed]\n"
                               "    priority: 1\n    channels: [email, letter]\n"
                               "    templates: {email: welcome, letter: winback}\n"
                               + COUPON_OFFER)
    for n in range(1, 6):
        contacts.append(["old-run", "autumn", f"C{n:03d}", "2025-10-01", "email", "others",
                         "welcome-back", "A", "treatment", "", f"SPRING-{n:04d}"])


CASE_EDITS: dict[str, Any] = {
    "guests": _guests, "duplicates": _duplicates, "cancellations": _cancellations,
    "consent": _consent, "suppressions": _suppressions, "caps": _caps,
    "variants": _variants, "coupons": _coupons}


def _every(*edits: Any) -> None:
    """Every fixture's edits in one shop."""
    for edit in [e for e in CASE_EDITS.values() if e is not _every]:
        edit(*edits)


CASE_EDITS["every"] = _every
# The fixtures whose edge cases hold as they are when every edit is made to one shop (the
# others' counts change: the consent edit makes a second same person, and so on).
HELD_TOGETHER = ["guests", "consent", "suppressions", "variants"]


# --- Inputs: presets, Parquet, info lines, ragged rows, whitespace ---------------------------

PRESET_FILES = ROOT / "tests" / "data" / "presets"
# Preset fixtures (tests/ingest/test_presets.py), their header detected as that test does:
# Shopify's orders (a transform of windows over line items, refunds netted, guests) and
# Salesforce's contacts (US dates in three formats, a footer). Every preset's fixtures at
# once take five minutes on Spark here: these stand for them in CI time.
PRESET_INPUTS = [
    ("orders", "shopify_orders.csv", "crmreport"),
    ("customers", "salesforce_contacts.csv", "crmreport"),
]
CDNOW_LINES = 300  # of tests/data/cdnow/CDNOW_sample.txt: whitespace-separated, no header


def write_odd_inputs(folder: Path) -> list[tuple[str, Path, str]]:
    """The tiny shop's customers as Parquet (typed columns: dates, decimals, a timestamp),
    its orders as CSV below info lines with a short and a long row, and CDNOW's sample."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader(CUSTOMERS_CSV.splitlines()))
    table = {name: pa.array([r[name] or None for r in rows]) for name in rows[0]}
    table["signup_date"] = pa.array([dt.date.fromisoformat(r["signup_date"]) for r in rows])
    table["credit"] = pa.array([Decimal(f"{i}.50") for i in range(len(rows))],
                               pa.decimal128(9, 2))
    table["score"] = pa.array([0.25 * i for i in range(len(rows))])
    table["seen_at"] = pa.array([dt.datetime(2026, 1, i + 1, 9, 30, tzinfo=dt.UTC)
                                 for i in range(len(rows))])
    pq.write_table(pa.table(table), folder / "customers.parquet")
    lines = ORDERS_CSV.splitlines()
    ragged = [lines[1].rsplit(",", 2)[0], lines[2] + ",extra"]
    (folder / "orders.csv").write_text(
        "Order export\nShop GmbH, 2026-03-01\n\n" + "\n".join([*lines, *ragged]) + "\n",
        encoding="utf-8")
    sample = ROOT / "tests" / "data" / "cdnow" / "CDNOW_sample.txt"
    (folder / "cdnow.txt").write_text(
        "".join(sample.read_text(encoding="utf-8").splitlines(keepends=True)[:CDNOW_LINES]),
        encoding="utf-8")
    return [("customers", folder / "customers.parquet", "crmreport"),
            ("orders", folder / "orders.csv", "crmreport"),
            ("orders", folder / "cdnow.txt", "cdnow")]


def identified(con: Any, inputs: list[tuple[str, Path, str]]) -> tuple[dict[str, Any], ...]:
    """The account, every canonical table and the quarantine (rows sorted) after identify
    reads ``inputs`` (each file's records kept apart: no matching across files)."""
    from crmreport.identify import identify_tables
    from crmreport.ingest import SourceFile, load_sources

    staged = load_sources(con, [SourceFile(t, p, m) for t, p, m in inputs])
    done = identify_tables(con, staged, "EUR", match=())
    tables = {t.name: sorted(con.execute(f"SELECT * FROM {t.name}").fetchall(), key=repr)
              for t in done.tables}
    return done.account.as_dict(), tables


def test_spark_reads_every_input_as_duckdb_does(spark: Any, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Every preset's fixture, Parquet, info lines above the header, ragged rows (quarantined
    with their lines) and a whitespace-separated file, read and identified on both engines:
    the same account, the same rows in every canonical table and the quarantine."""
    from crmreport.engine import connect
    from crmreport.engine.spark import SparkConnection

    inputs = [(t, PRESET_FILES / f, m) for t, f, m in PRESET_INPUTS]
    inputs += write_odd_inputs(tmp_path)
    duck_account, duck_tables = identified(connect(kind="duckdb"), inputs)
    spark_account, spark_tables = identified(SparkConnection(spark), inputs)
    for duck_file, spark_file in zip(duck_account["files"], spark_account["files"],
                                     strict=True):
        assert spark_file == duck_file
    for name, rows in duck_tables.items():
        assert spark_tables[name] == rows, name
    files = {Path(f["path"]).name: f for f in duck_account["files"]}
    assert files["orders.csv"]["reasons"] == {"malformed_row": 2}
    assert files["orders.csv"]["read"]["info_lines"] == 3
    assert {f["preset"] for f in files.values()} == {"shopify", "salesforce", "crmreport",
                                                     "cdnow"}
    lines = [row[3] for row in duck_tables["quarantine"] if row[4] == "malformed_row"]
    assert lines == [12, 13]  # the file's own lines: 3 info lines, the header, 7 orders
    with capsys.disabled():
        print(f"\nparity inputs: {len(inputs)} files, "
              f"{sum(map(len, duck_tables.values())):,} rows equal on DuckDB and Spark")
