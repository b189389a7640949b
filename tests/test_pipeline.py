import csv
import datetime as dt
import email
import email.policy
import functools
import json
import re
import shutil
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pypdf import PdfReader

from crmreport import pipeline
from crmreport.config import load_campaign
from crmreport.config.models import Segment
from crmreport.engine import Connection, connect
from crmreport.errors import CrmError
from crmreport.features.net_orders import classify_orders
from crmreport.interact import pick_variant
from crmreport.monitor.periods import period_summary
from crmreport.personalise.email import ESP_COLUMNS
from crmreport.run import Run
from crmreport.tables import CONTACTS, ORDERS


def _build(shop: Path, out: Path) -> pipeline.BuildResult:
    return pipeline.build(load_campaign(shop / "campaign.yaml"), out)


def test_build_writes_consented_emails_and_letters(shop: Path, tmp_path: Path) -> None:
    (shop / "unsubscribes.csv").write_text("email,channel\nanna@example.de,email\n")
    result = _build(shop, tmp_path / "out")
    folder = tmp_path / "out" / "test-campaign"
    # C1 unsubscribed from email -> letter; C3 objected to mail, no email; C5 email
    assert result.emails == 1 and result.letters == 1
    assert [p.name for p in (folder / "emails").iterdir()] == ["C5.eml"]
    message = email.message_from_bytes((folder / "emails" / "C5.eml").read_bytes(),
                                       policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"].addresses[0].addr_spec == "eve@example.de"
    assert message.get_body(("plain",)).get_content().startswith("Guten Tag,")  # no salutation
    letters = PdfReader(folder / "letters.pdf")
    assert len(letters.pages) == 1
    text = letters.pages[0].extract_text()
    assert "Müller" in text and "01067" in text
    assert (folder / "print.csv").read_text().splitlines()[1].startswith("1,C1,Frau,Anna")


def test_rerun_adds_no_contacts_and_leaves_outputs(shop: Path, tmp_path: Path) -> None:
    first = _build(shop, tmp_path / "out")
    history = (shop / "contacts.csv").read_bytes()
    manifest = (tmp_path / "out" / "test-campaign" / "manifest.json").read_bytes()
    assert first.contacts_added == 2
    second = _build(shop, tmp_path / "out")
    assert second.run_id is None and second.contacts_added == 0
    assert second.plan.excluded["already_contacted"] == 2
    assert (shop / "contacts.csv").read_bytes() == history
    assert (tmp_path / "out" / "test-campaign" / "manifest.json").read_bytes() == manifest


def test_a_crash_while_rendering_leaves_history_and_outputs_as_before(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (shop / "contacts.csv").write_text("run_id,campaign,customer_id,contacted_at,channel,"
                                       "segment,offer,variant,test_group,content_hash\n")
    before = (shop / "contacts.csv").read_bytes()

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("printer on fire")

    monkeypatch.setattr("crmreport.personalise.render_emails", explode)
    with pytest.raises(RuntimeError):
        _build(shop, tmp_path / "out")
    assert (shop / "contacts.csv").read_bytes() == before
    assert not (tmp_path / "out" / "test-campaign").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_same_inputs_give_byte_identical_outputs(shop: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(shop, twin)
    _build(shop, tmp_path / "a")
    _build(twin, tmp_path / "b")
    for name in ("manifest.json", "contacts.csv", "esp.csv", "emails/C1.eml"):
        a = (tmp_path / "a" / "test-campaign" / name).read_bytes()
        b = (tmp_path / "b" / "test-campaign" / name).read_bytes()
        assert a.replace(str(shop).encode(), b"") == b.replace(str(twin).encode(), b""), name


def test_demo_end_to_end(demo_run: pipeline.DemoResult) -> None:
    result, tmp_path = demo_run, demo_run.data_dir.parent
    built = result.build
    folder = tmp_path / "spring-2026"
    assert built.emails == len(list((folder / "emails").glob("*.eml"))) > 0
    assert len(PdfReader(folder / "letters.pdf").pages) == built.letters > 0
    print_rows = (folder / "print.csv").read_text().splitlines()
    assert len(print_rows) == built.letters + 1
    assert {p.name for p in result.reports} == {"report.html", "report.pdf"}
    html = (tmp_path / "report.html").read_text()
    assert html.count("plotly.js v") <= 2 and "Autumn 2025" in html  # the label of autumn-2025
    assert "Customer equity (52 weeks)" in html and "chart-fit" in html
    contacts = (tmp_path / "data" / "contacts.csv").read_text().splitlines()
    assert sum("spring-2026" in line for line in contacts) == built.plan.treatment + sum(
        g.get("control", 0) for ch in built.plan.final.values() for g in ch.values())
    codes = [line.split(",")[-1] for line in contacts if "spring-2026" in line]
    given = [c for c in codes if c]
    assert given and len(given) == len(set(given))  # the winback offer draws from the pool


HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1", "-1", "@SUM(A1:A2)"]


def test_exported_csvs_are_formula_safe_and_file_names_sanitised(
    shop: Path, tmp_path: Path
) -> None:
    text = (shop / "customers.csv").read_text()
    quoted = '"' + HOSTILE[0].replace('"', '""') + '"'
    text = text.replace("C1,anna@example.de,Frau,Anna,Müller,",
                        f"../../etc/passwd,anna@example.de,Frau,{quoted},{HOSTILE[1]},")
    text = text.replace("C5,eve@example.de,,Eve,Lang,,,,,",
                        f"a/b,eve@example.de,,{HOSTILE[2]},{HOSTILE[3]},,,,,")
    (shop / "customers.csv").write_text(text)
    orders = (shop / "orders.csv").read_text().replace(",C1,", ",../../etc/passwd,")
    (shop / "orders.csv").write_text(orders.replace(",C5,", ",a/b,"))
    _build(shop, tmp_path / "out")
    folder = tmp_path / "out" / "test-campaign"
    assert sorted(p.name for p in (folder / "emails").iterdir()) == ["a_b.eml", "etc_passwd.eml"]
    assert not (tmp_path / "etc").exists()
    for name in ("esp.csv", "contacts.csv", "print.csv"):
        with (folder / name).open(newline="") as handle:
            for row in csv.reader(handle):
                for cell in row:
                    assert not cell.startswith(("=", "+", "-", "@")), (name, cell)
    esp = (folder / "esp.csv").read_text()
    assert "'=HYPERLINK" in esp and "'+1" in esp and "'-1" in esp and "'@SUM" in esp


VARIANTS = """\
    variants:
      - {id: A, share: 0.5}
      - {id: B, share: 0.5, templates: {email: welcome}}
"""


def test_variants_pick_templates_and_are_recorded(shop: Path, tmp_path: Path) -> None:
    text = (shop / "campaign.yaml").read_text().replace(
        "    templates: {email: vip, letter: vip}\n",
        "    templates: {email: vip, letter: vip}\n" + VARIANTS)
    (shop / "campaign.yaml").write_text(text)
    result = _build(shop, tmp_path / "out")
    folder = tmp_path / "out" / "test-campaign"
    history = list(csv.DictReader((shop / "contacts.csv").open(newline="")))
    variants = {r["customer_id"]: r["variant"] for r in history}
    assert variants == {c: pick_variant("test", c, [("A", 0.5), ("B", 0.5)]) for c in variants}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["variants"] == result.plan.variants
    subjects = {cid: next(line for line in (folder / "emails" / f"{cid}.eml").read_text()
                          .splitlines() if line.startswith("Subject:")) for cid in variants}
    if len(set(variants.values())) == 2:
        assert len(set(subjects.values())) == 2


def test_explain_says_why_for_contacted_and_excluded(shop: Path) -> None:
    loaded = load_campaign(shop / "campaign.yaml")
    contacted = pipeline.explain(loaded, "C1")
    assert contacted.segment == "recent"
    assert [s.verdict for s in contacted.segments] == [True, True]
    assert contacted.decision.status == "contact"
    assert contacted.decision.channel == "email"
    assert "email" not in contacted.features and "last_name" not in contacted.features
    excluded = pipeline.explain(loaded, "C3").decision
    assert excluded.excluded == "no_permission"
    assert excluded.reason == ("no_permission: no valid email address and a letter is not "
                               "allowed: mail_objection")
    never = pipeline.explain(loaded, "C2")
    assert never.segments[0].verdict is False and never.decision.status == "no_offer"
    assert never.decision.as_dict() == {"status": "no_offer",
                                        "reason": "no offer is eligible in segment 'others'"}
    with pytest.raises(CrmError, match="customer nobody is not in the customers file"):
        pipeline.explain(loaded, "nobody")


def test_formula_like_ids_round_trip_through_the_history(shop: Path, tmp_path: Path) -> None:
    ids = {"C1": '"=HYPERLINK(""x"")"', "C2": "+1", "C3": "@a", "C5": "-5"}
    for name in ("customers.csv", "orders.csv"):
        text = (shop / name).read_text(encoding="utf-8")
        for old, new in ids.items():
            text = text.replace(f",{old},", f",{new},").replace(f"\n{old},", f"\n{new},")
        (shop / name).write_text(text, encoding="utf-8")
    first = _build(shop, tmp_path / "out")
    assert first.contacts_added == 2
    with (shop / "contacts.csv").open(newline="", encoding="utf-8") as handle:
        written = sorted(row["customer_id"] for row in csv.DictReader(handle))
    assert written == ["'-5", "'=HYPERLINK(\"x\")"]
    again = _build(shop, tmp_path / "out")
    assert again.run_id is None and again.plan.excluded["already_contacted"] == 2


SENDER = """\
locale: en_GB
sender: {company: Shop GmbH, street: Weg 1, postal_code: "01067", city: Dresden,
         register: "Amtsgericht Dresden, HRB 1", email: privacy@shop.example}
"""


def test_build_gives_emails_the_legal_footer_and_esp_its_declared_columns(
        shop: Path, tmp_path: Path) -> None:
    customers = shop / "customers.csv"
    text = customers.read_text(encoding="utf-8")  # C1 and C5 have no locale:
    customers.write_text(text.replace("DE,de_DE,2024-01-01,yes", "DE,,2024-01-01,yes"),
                         encoding="utf-8")
    config = shop / "campaign.yaml"
    config.write_text(config.read_text(encoding="utf-8") + SENDER, encoding="utf-8")
    _build(shop, tmp_path / "out")
    folder = tmp_path / "out" / "test-campaign"
    message = email.message_from_bytes((folder / "emails" / "C5.eml").read_bytes(),
                                       policy=email.policy.default)
    assert message["Subject"] == "Just for you: early access to our new collection"
    for part in ("plain", "html"):
        body = message.get_body((part,))
        assert body is not None
        content = " ".join(body.get_content().split())
        assert "You may object to the use of your data for advertising" in content
        assert "privacy@shop.example" in content and "Amtsgericht Dresden, HRB 1" in content
    with (folder / "esp.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == ESP_COLUMNS and [r[0] for r in rows[1:]] == ["C1", "C5"]


def test_an_as_of_long_after_the_data_is_a_warning(shop: Path) -> None:
    campaign = shop / "campaign.yaml"
    campaign.write_text(campaign.read_text().replace("as_of: 2026-03-01", "as_of: 2026-12-01"))
    warnings = pipeline.check(load_campaign(campaign)).warnings
    [warning] = [w for w in warnings if ": as_of: " in w]  # 'recent' is empty now, too
    # the shop's longest gap between order days (2025-06-01 to 2025-12-01) is 183 days
    assert warning.startswith(
        f"{campaign}:2: as_of: as_of 2026-12-01 is 279 days after the last order in the data "
        "(2026-02-25), more than 183 days (the longer of 90 days and the longest gap between "
        "order days)")


def test_an_as_of_just_after_the_data_is_no_warning(shop: Path) -> None:
    assert pipeline.check(load_campaign(shop / "campaign.yaml")).warnings == []


def test_a_contact_cell_over_the_history_limit_stops_build_before_rendering(
        shop: Path) -> None:
    long_id = "C" + "7" * 131_072  # 131,073 characters: the history could not read it back
    for name in ("customers.csv", "orders.csv"):
        text = (shop / name).read_text(encoding="utf-8")
        (shop / name).write_text(text.replace("C1,", f"{long_id},"), encoding="utf-8")
    with pytest.raises(CrmError, match=r"the customer_id of contact 2 of this run has 131,073 "
                                       r"characters.*nothing was rendered") as caught:
        pipeline.build(load_campaign(shop / "campaign.yaml"), shop / "out")
    assert "7777" not in str(caught.value)
    assert not (shop / "out").exists() and not (shop / "contacts.csv").exists()


def test_letters_pdf_follows_print_csv_page_by_page(demo_run: pipeline.DemoResult) -> None:
    folder = demo_run.data_dir.parent / "spring-2026"
    with (folder / "print.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    pages = [page.extract_text() for page in PdfReader(folder / "letters.pdf").pages]
    assert len(pages) == len(rows) == demo_run.build.letters > 10
    presort = [(r["country"], r["postal_code"], r["customer_id"]) for r in rows]
    assert presort == sorted(presort)
    for seq, (row, text) in enumerate(zip(rows, pages, strict=True), start=1):
        assert row["seq"] == str(seq)  # nothing set aside in the demo: no gaps
        assert text.rstrip().endswith(f"{seq:06d}")
        assert re.search(rf"(Kundennummer|Customer no\.) {row['customer_id']}\n", text)
        assert row["street"] in text and "Amtsgericht Dresden, HRB 00000" in text


def test_a_letter_that_cannot_be_printed_is_set_aside_not_sent(shop: Path,
                                                               tmp_path: Path) -> None:
    company = ("Vereinigte Sanitär-, Heizungs- und Klimatechnik Handelsgesellschaft für "
               "Mittel- und Ostdeutschland mbH & Co. KG Niederlassung Dresden")
    with (shop / "customers.csv").open("a", encoding="utf-8") as handle:
        handle.write(f'C6,,Herr,Max,Lang,"{company}",Ring 1,1010,Wien,AT,de_AT,'
                     "2024-01-01,no,false\n")
    with (shop / "orders.csv").open("a", encoding="utf-8") as handle:
        handle.write("O8,C6,2026-02-21T10:00:00+01:00,2026-02-21,40.00,EUR,completed,online\n")
    with (shop / "order_lines.csv").open("a", encoding="utf-8") as handle:
        handle.write("O8,BK-4,Book,books,1,40.00\n")
    (shop / "unsubscribes.csv").write_text("email,channel\nanna@example.de,email\n")
    result = _build(shop, tmp_path / "out")
    folder = tmp_path / "out" / "test-campaign"
    assert result.letters == 1 and result.quarantined == 1
    with (folder / "not_rendered.csv").open(encoding="utf-8", newline="") as handle:
        (aside,) = list(csv.DictReader(handle))
    assert (aside["customer_id"], aside["channel"], aside["reason"]) == (
        "C6", "letter", "address_clipped")
    assert "envelope window" in aside["detail"] and "Sanitär" not in aside["detail"]
    assert "C6" not in (folder / "contacts.csv").read_text()
    # C6 (AT) came first in print order: its number 1 stays unused.
    assert [r.split(",")[:2] for r in (folder / "print.csv").read_text().splitlines()[1:]] == [
        ["2", "C1"]]
    assert len(PdfReader(folder / "letters.pdf").pages) == 1


def test_the_spark_engine_is_opened_at_the_campaigns_master(shop: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from crmreport import spark_setup
    from crmreport.config import with_engine

    asked: list[str] = []
    opened: list[dict[str, object]] = []
    monkeypatch.setattr(spark_setup, "require_spark", asked.append)
    monkeypatch.setattr(pipeline, "connect", lambda **options: opened.append(options))
    loaded = load_campaign(shop / "campaign.yaml")
    spark = loaded.config.model_copy(update={"spark": pipeline.SparkSettings(
        master="spark://cluster:7077", conf={"spark.executor.memory": "4g"})})
    pipeline.open_engine(with_engine(loaded, "spark").config)
    pipeline.open_engine(spark.model_copy(update={"engine": "spark"}))
    assert asked == ["local[2]", "spark://cluster:7077"]
    assert opened == [{"kind": "spark", "master": "local[2]", "conf": {}},
                      {"kind": "spark", "master": "spark://cluster:7077",
                       "conf": {"spark.executor.memory": "4g"}}]


def test_the_duckdb_engine_is_opened_as_before(shop: Path) -> None:
    con = pipeline.open_engine(load_campaign(shop / "campaign.yaml").config)
    assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)


def test_a_job_closes_the_spark_engine_it_opened_also_when_it_fails(
        shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Spark Connect session holds the run's tables on its server until the engine closes."""
    from crmreport import spark_setup
    from crmreport.config import with_engine

    closed = []

    class Engine:  # no SQL at all: the job fails at its first statement
        def close(self) -> None:
            closed.append(self)

    monkeypatch.setattr(spark_setup, "require_spark", lambda master: None)
    monkeypatch.setattr(pipeline, "connect", lambda **settings: Engine())
    with pytest.raises(AttributeError):
        pipeline.plan(with_engine(load_campaign(shop / "campaign.yaml"), "spark"))
    assert len(closed) == 1
    pipeline.open_engine(with_engine(load_campaign(shop / "campaign.yaml"), "spark").config)
    assert len(closed) == 1  # outside a job: its caller's to close


def _previous(run: Run, day: dt.date) -> list[tuple[str, str]]:
    assert pipeline.previous_segments(run, day)
    return [(c, s) for c, s in run.con.execute(
        "SELECT customer_id, segment FROM previous_segments ORDER BY ALL").fetchall()]


def test_previous_segments_from_rfm_alone_are_those_from_all_the_features(
        demo_run: pipeline.DemoResult, monkeypatch: pytest.MonkeyPatch) -> None:
    from crmreport.features import FEATURES, MODEL_COLUMNS, RFM_COLUMNS

    loaded = load_campaign(Path(pipeline.__file__).parents[2] / "campaigns" / "demo.yaml",
                           data_dir=demo_run.data_dir)
    columns_read = pipeline._segment_columns
    read = columns_read(loaded.config.segments)
    assert {"r_score", "orders", "recency_days"} <= read <= RFM_COLUMNS
    run = pipeline.prepare(loaded, contact_plan=False)
    features = run.con.execute(f"SELECT * FROM {FEATURES} ORDER BY ALL").fetchall()
    day = loaded.config.as_of - dt.timedelta(days=91)
    from_rfm = _previous(run, day)
    for columns in (read | {"next_category"}, read | MODEL_COLUMNS):  # unfitted, fitted
        monkeypatch.setattr(pipeline, "_segment_columns", lambda segments, c=columns: c)
        assert _previous(run, day) == from_rfm
    assert len({segment for _, segment in from_rfm}) >= 4
    # the current features are as they were, and no working table is left
    assert run.con.execute(f"SELECT * FROM {FEATURES} ORDER BY ALL").fetchall() == features
    assert not run.con.execute("SELECT * FROM duckdb_tables() WHERE table_name = 'rfm'"
                               ).fetchall()
    reading = [Segment(id="high", when="CLV_52W > 100 OR churn_risk < .2")]
    assert columns_read(reading) == {"clv_52w", "churn_risk"}  # DuckDB: any case


def test_preloading_imports_in_order_and_waits_only_for_what_it_imports():
    importing = pipeline._Preloading(["json", "crmreport_no_such_module", "csv"])
    importing.wait("csv")  # after a module that failed: the failure is left to its use
    importing.wait("not_in_the_list")  # returns at once
    importing.wait()
    assert not importing._thread.is_alive()
    assert all(event.is_set() for event in importing._imported.values())


def _orders_and_contacts() -> Connection:
    con = connect()
    for table in (ORDERS, CONTACTS):
        columns = ", ".join(f"{c} {t}" for c, t in table.columns.items())
        con.execute(f"CREATE TABLE {table} ({columns})")
    con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status) VALUES "
                "('o1', 'A', DATE '2026-02-03', 40, 'completed'), "
                "('o2', 'B', DATE '2026-02-24', 25, 'completed'), "
                "('o3', 'A', DATE '2026-02-25', -5, 'completed')")
    con.execute("INSERT INTO contacts (run_id, campaign, customer_id, contacted_at, channel, "
                "segment, test_group) VALUES ('r1', 'feb', 'A', DATE '2026-02-01', 'email', "
                "'all', 'treatment'), ('r1', 'feb', 'B', DATE '2026-02-01', 'email', 'all', "
                "'control')")
    classify_orders(con)
    return con


def test_the_period_summary_made_beside_is_the_one_made_here() -> None:
    con = _orders_and_contacts()
    summarise = functools.partial(period_summary, kind="week", as_of=dt.date(2026, 3, 2),
                                  window_days=7, costs={"email": 0.01})
    beside, here = pipeline._beside(con, summarise)[0].result(timeout=60), summarise(con)
    assert [(f.period, f.revenue, f.active, f.new, f.retained, f.base)
            for f in beside.periods] == [(f.period, f.revenue, f.active, f.new, f.retained,
                                          f.base) for f in here.periods]
    assert here.current.revenue == 20.0  # W09: B's 25 and A's credit note of 5
    for a, b in zip(beside.periods, here.periods, strict=True):
        pd.testing.assert_frame_equal(a.response, b.response)


def test_a_failure_beside_is_raised_to_the_caller() -> None:
    def fails(con: Connection) -> None:
        con.execute("SELECT * FROM no_such_table")

    with pytest.raises(duckdb.CatalogException, match="no_such_table"):
        pipeline._beside(_orders_and_contacts(), fails)[0].result(timeout=60)


def test_work_beside_can_be_stopped() -> None:
    started = threading.Event()

    def slow(con: Connection) -> None:
        started.set()
        con.execute("SELECT count(*) FROM range(10000000000)").fetchall()

    done, stop = pipeline._beside(_orders_and_contacts(), slow)
    assert started.wait(60)
    deadline = time.monotonic() + 60
    while not done.done() and time.monotonic() < deadline:
        stop()  # again until the query has started and is interrupted
        time.sleep(0.05)
    with pytest.raises(duckdb.InterruptException):
        done.result(timeout=60)
    stop()  # again, once its connection is closed: nothing to stop


def test_without_a_second_connection_the_work_is_done_here() -> None:
    spark_like = type("SparkAdapter", (), {"spark": object()})()
    done, stop = pipeline._beside(spark_like, lambda con: con)
    assert done.result(timeout=0) is spark_like
    failed, _ = pipeline._beside(spark_like, lambda con: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failed.result(timeout=0)
    stop()  # nothing to stop
