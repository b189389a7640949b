import datetime as dt
import email
import email.policy
import io
import json
import re
from collections import Counter

import duckdb
import plotly.offline
import pytest
from pypdf import PdfReader

from crmreport.account import Account, FileAccount
from crmreport.config.models import Branding, Report
from crmreport.features.net_orders import classify_orders
from crmreport.monitor import collect
from crmreport.monitor.periods import period_summary
from crmreport.reasons import label
from crmreport.report import write_report
from crmreport.report.format import SUPPRESSED, Formatter
from crmreport.report.labels import LABELS
from crmreport.report.summary_json import SummaryOut, summary_json
from crmreport.tables import CONTACTS, CUSTOMERS, ORDERS

AS_OF = dt.date(2026, 3, 1)
SEGMENTS = {"vip": 30, "regular": 40, "tiny": 3}  # tiny is below min_cell_size
DEFINITION = Report(
    report="weekly", title="Weekly test report", language="en", min_cell_size=10,
    cohort_months=6, branding=Branding(name="Demo Shop"),
)
HEADINGS = ["Executive summary", "Campaign response", "Retention", "Segments", "Data quality"]


def _create(con, name, cols):
    con.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in cols.items())})")


def _build_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in (CUSTOMERS, ORDERS, CONTACTS):
        _create(con, table.name, table.columns)
    con.execute("CREATE TABLE assignments (customer_id VARCHAR, segment VARCHAR, offer VARCHAR,"
                " recency_days INTEGER, repeat_orders INTEGER, monetary DECIMAL(18,2))")
    n = 0
    for segment, size in SEGMENTS.items():
        for i in range(size):
            n += 1
            cid = f"CUST-{n:05d}"
            con.execute("INSERT INTO customers (customer_id, email) VALUES (?, ?)",
                        [cid, f"person{n}@example.org"])
            offer = None if i % 4 == 0 else "gift"
            con.execute("INSERT INTO assignments VALUES (?, ?, ?, ?, ?, ?)",
                        [cid, segment, offer, 10 + n, 1 + n % 5, 777.77])
            first = dt.date(2025, 9 + n % 4, 1 + n % 27)
            con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount, status)"
                        " VALUES (?, ?, ?, 25.00, 'completed')", [f"o{n}a", cid, first])
            group = "control" if i % 3 == 0 else "treatment"
            contacted = dt.date(2026, 1, 15)  # its 30-day window closed before AS_OF
            con.execute("INSERT INTO contacts (run_id, campaign, customer_id, contacted_at,"
                        " channel, segment, test_group) VALUES ('r1', 'spring', ?, ?, ?, ?, ?)",
                        [cid, contacted, "email" if i % 2 else "letter", segment, group])
            if i % (2 if group == "treatment" else 4) == 0:
                con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount,"
                            " status) VALUES (?, ?, ?, 40.00, 'completed')",
                            [f"o{n}b", cid, contacted + dt.timedelta(days=1 + n % 20)])
    classify_orders(con)  # what features does in a run
    return con


def _account() -> Account:
    customers = FileAccount("data/customers.csv", "customers", rows_in=80, loaded=73)
    customers.quarantine("missing_customer_id", 2)
    customers.merge("duplicate_customer_id", 5)
    orders = FileAccount("data/orders.csv", "orders", rows_in=150, loaded=150)
    return Account(files=[customers, orders])


COSTS = {"email": 0.002, "letter": 0.85}


@pytest.fixture(scope="module")
def con():
    return _build_connection()


@pytest.fixture(scope="module")
def monitoring(con):
    return collect(con, AS_OF, 30, COSTS, _account(), months=6)


@pytest.fixture(scope="module")
def summary(con):
    return period_summary(con, "week", AS_OF, 30, COSTS, equity=1000.0)


@pytest.fixture(scope="module")
def outputs(monitoring, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    paths = write_report(monitoring, DEFINITION, out)
    html = (out / "report.html").read_text(encoding="utf-8")
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(out / "report.pdf").pages)
    return paths, html, pdf_text, out


def test_writes_both_files(outputs):
    paths, _, _, out = outputs
    assert [p.name for p in paths] == ["report.html", "report.pdf"]
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")


def test_html_is_self_contained(outputs):
    html = outputs[1]
    plotlyjs = plotly.offline.get_plotlyjs()
    assert html.count(plotlyjs[:200]) == 1
    assert html.index(plotlyjs[:200]) < html.index("</head>")
    assert not re.search(r"<script[^>]+src=", html)
    ours = html.replace(plotlyjs, "")  # plotly.js itself mentions URLs in strings
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", ours)
    for div in ("chart-uplift", "chart-rates", "chart-cohorts", "chart-retention",
                "chart-segments"):
        assert f'id="{div}"' in html


def test_every_section_heading(outputs):
    _, html, pdf_text, _ = outputs
    for heading in HEADINGS:
        assert f">{heading}</h2>" in html
        assert heading in pdf_text


def test_no_personal_data(outputs):
    _, html, pdf_text, _ = outputs
    for text in (html, pdf_text):
        assert "CUST-" not in text
        assert "@example.org" not in text
        assert "person1" not in text


def test_small_cells_suppressed(outputs, monitoring):
    html = outputs[1]
    tiny = re.search(r'<td class="l">Tiny</td>(.*?)</tr>', html, re.S).group(1)
    assert set(re.findall(r"<td>(.*?)</td>", tiny)) == {"–"}
    # The result rows of tiny (3 customers) show no figures either.
    rows = re.findall(r'<td class="l">Segment</td><td class="l">Tiny</td>(.*?)</tr>', html,
                      re.S)
    assert len(rows) == 2  # response and uplift; cost and return
    cells = [c for row in rows for c in re.findall(r"<td>(.*?)</td>", row)]
    assert set(cells) == {"–"}
    raw = monitoring.segments.set_index("segment")
    assert raw.loc["tiny", "customers"] == 3  # suppression happens in the report only


def test_data_quality_adds_up(outputs):
    html = outputs[1]
    assert "Every input row is accounted for" in html
    # reasons are shown by their labels (crmreport.reasons), in the report's language
    assert f"{label('duplicate_customer_id')}: 5" in html
    assert f"{label('missing_customer_id')}: 2" in html


def test_html_is_byte_identical(monitoring, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_report(monitoring, DEFINITION, a, formats=("html",))
    write_report(monitoring, DEFINITION, b, formats=("html",))
    assert (a / "report.html").read_bytes() == (b / "report.html").read_bytes()


def test_pdf_is_byte_identical(monitoring, outputs, tmp_path):
    write_report(monitoring, DEFINITION, tmp_path, formats=("pdf",))
    assert (tmp_path / "report.pdf").read_bytes() == (outputs[3] / "report.pdf").read_bytes()


def test_pdf_opens_and_has_metadata(outputs):
    reader = PdfReader(io.BytesIO((outputs[3] / "report.pdf").read_bytes()))
    assert len(reader.pages) >= 3
    assert reader.metadata.title == "Weekly test report"


def test_german_labels_and_numbers(monitoring, tmp_path):
    german = DEFINITION.model_copy(update={"language": "de"})
    write_report(monitoring, german, tmp_path, formats=("html",))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert ">Zusammenfassung</h2>" in html and ">Datenqualität</h2>" in html
    assert '"separators":",."' in html


def test_summary_section_names_the_week_in_german(monitoring, summary, tmp_path):
    german = DEFINITION.model_copy(update={"language": "de"})
    write_report(monitoring, german, tmp_path, formats=("html",), summary=summary)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    # as of Sunday 1 March 2026 the last complete ISO week is week 8 (16-22 February)
    assert ">Zusammenfassung: KW 8/2026</h2>" in html
    assert "Umsatz" in html and "Kundenkapital (52 Wochen)" in html
    assert html.count('<svg class="spark"') >= 3


def test_equity_has_no_previous_value_and_a_footnote_says_why(monitoring, summary, tmp_path):
    write_report(monitoring, DEFINITION, tmp_path, formats=("html",), summary=summary)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    row = re.search(r"<td class=\"l\">Customer equity \(52 weeks\)</td>(.*?)</tr>", html,
                    re.S).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", row)[:3] == ["€1,000.00", "—¹", ""]
    assert "¹ Customer equity: the sum of the 52-week CLV" in html


def _visible_words(html: str) -> set[str]:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<svg\b.*?</svg>", " ", text, flags=re.S)
    return {w.lower() for w in re.findall(r"[^\W\d_]+", re.sub(r"<[^>]+>", " ", text))}


def test_german_report_shows_no_english_word(monitoring, summary, tmp_path):
    german = DEFINITION.model_copy(update={
        "language": "de", "title": "Wochenbericht", "branding": Branding(name="Muster GmbH")})
    write_report(monitoring, german, tmp_path, formats=("html",), summary=summary,
                 labels={"vip": {"de": "Top-Kunden"}, "regular": {"de": "Stammkunden"},
                         "tiny": {"de": "Kleinstgruppe"}, "gift": {"de": "Geschenk"}})
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    words = _visible_words(re.sub(r"data/\w+\.csv", "", html))  # file names are no words
    english = {w.lower() for text in LABELS["en"].values() for w in re.findall(r"[^\W\d_]+", text)}
    german_too = {w.lower() for text in LABELS["de"].values()
                  for w in re.findall(r"[^\W\d_]+", text)}
    assert words & (english - german_too) == set()
    assert "top" in words and "stammkunden" in words and "geschenk" in words


def test_summary_email_is_self_contained(monitoring, summary, tmp_path):
    eml = tmp_path / "summary.eml"
    paths = write_report(monitoring, DEFINITION, tmp_path, formats=(), summary=summary,
                         email=eml)
    assert paths == [eml]
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Weekly test report: 2026-W08"
    html = message.get_body(("html",)).get_content()
    assert "<style" not in html and "<script" not in html and 'style="' in html
    cids = {p["Content-ID"].strip("<>"): p for p in message.walk() if p["Content-ID"]}
    referenced = set(re.findall(r'src="cid:([^"]+)"', html))
    assert referenced and referenced == set(cids)
    assert all(p.get_content().startswith(b"\x89PNG") for p in cids.values())
    assert not re.search(r'src="(https?:)?//', html)
    text = message.get_body(("plain",)).get_content()
    assert "No orders in 2026-W08." in text and "CUST-" not in text + html  # none that week


def test_summary_json(monitoring, summary):
    data = json.loads(summary_json(monitoring, summary, DEFINITION))
    SummaryOut.model_validate(data)  # it matches its own schema
    assert data["period"] == {"kind": "week", "name": "2026-W08", "start": "2026-02-16",
                              "end": "2026-02-22"}
    assert data["previous_period"]["name"] == "2026-W07"
    # spring: every third customer of a segment is control: vip 10 of 30, regular 14 of 40,
    # tiny 1 of 3 -> 48 treated and 25 control
    (spring,) = data["campaigns"]
    assert (spring["campaign"], spring["contacted"], spring["control"]) == ("spring", 48, 25)
    assert data["figures"]["equity"]["value"] == 1000.0
    assert data["checks"] == [] and data["failed"] is False
    assert "CUST-" not in json.dumps(data)


def test_formatter():
    en, de = Formatter("en"), Formatter("de")
    assert en.number(1234.5, 1) == "1,234.5" and de.number(1234.5, 1) == "1.234,5"
    assert en.percent(0.1234) == "12.3%" and de.percent(0.1234) == "12,3\u00a0%"
    assert en.points(0.3) == "+30.0 pp" and de.points(-0.05) == "-5,0 Pp."
    assert en.number(SUPPRESSED) == "–" and en.number(None) == "n/a"
    assert en.number(-0.0001, 2) == "0.00"
    assert de.date(AS_OF) == "01.03.2026" and en.date(AS_OF) == "1 Mar 2026"
    assert en.month(AS_OF) == "Mar 2026" and de.month(AS_OF) == "März 2026"
    assert en.number(2.675, 2) == "2.68" and de.points(0.0005, 1) == "+0,1 Pp."
    assert Formatter("de", "de_CH").number(1234.5, 1) == "1'234.5"
    assert Formatter("de", "xx").number(1234.5, 1) == "1.234,5"  # unknown: the language's
    assert en.plotly_separators == ".," and de.plotly_separators == ",."
    assert en.pvalue(0.0001) == "< 0.001" and de.pvalue(0.0456) == "0,046"


def test_reasons_counter_type():
    assert isinstance(_account().files[0].reasons, Counter)


def test_no_hidden_cell_can_be_recovered_by_subtraction():
    import pandas as pd

    from crmreport.monitor import Monitoring
    from crmreport.report.format import SUPPRESSED, suppress_small

    segments = pd.DataFrame({
        "segment": ["a", "b", "c"], "customers": [100, 4, 50], "buyers": [100, 4, 50],
        "share": [0.65, 0.03, 0.32], "avg_recency_days": [10.0, 20.0, 30.0],
        "avg_frequency": [1.0, 1.0, 1.0], "avg_monetary": [5.0, 5.0, 5.0],
        "total_monetary": [500.0, 20.0, 250.0], "offer:x": [97, 0, 50], "offer:(none)": [3, 4, 0],
    })
    m = Monitoring(as_of=AS_OF, window_days=30, response=pd.DataFrame(columns=[
        "campaign", "is_total", "contacted", "control", "responders_t", "responders_c"]),
        cohorts=pd.DataFrame(columns=["cohort", "cohort_size", "k", "month", "active", "share",
                                      "complete", "left_censored"]),
        retention=pd.DataFrame(), segments=segments, account=_account())
    shown = suppress_small(m, 10).segments.set_index("segment")
    assert shown.loc["b", "customers"] is SUPPRESSED  # 4 customers
    assert shown.loc["c", "customers"] is SUPPRESSED  # the smallest other: total - a - c = b
    assert shown.loc["a", "offer:(none)"] is SUPPRESSED  # 3 people


def _agreement(monitoring, summary):
    """Every campaign figure of the summary table and of the JSON against the campaign
    section's total row: the same text, or hidden (and null in the JSON) in both."""
    import dataclasses

    from crmreport.report.format import suppress_small
    from crmreport.report.html import page_context
    from crmreport.report.names import with_names

    safe = with_names(suppress_small(monitoring, DEFINITION.min_cell_size), {}, "en")
    page = page_context(safe, DEFINITION, {}, None, summary)
    results = {c["name"]: next(r for r in c["rows"] if r["total"])
               for c in page["results"]["campaigns"]}
    shown = page["summary"]["campaigns"]
    assert [r["campaign"] for r in shown] == sorted(results)
    pairs = {"contacted": "contacted", "control": "control", "uplift": "uplift",
             "ci": "uplift_ci", "incremental": "incremental", "cost": "cost"}
    for row in shown:
        for mine, theirs in pairs.items():
            assert row[mine] == results[row["campaign"]][theirs], (mine, row[mine])
    raw = suppress_small(monitoring, DEFINITION.min_cell_size).results
    totals = {r["campaign"]: r for r in raw.rows.to_dict("records") if r["dimension"] == "total"}
    data = json.loads(summary_json(monitoring, summary, DEFINITION))
    keys = {"contacted": "contacted", "control": "control", "responders_t":
            "responders_treatment", "responders_c": "responders_control", "rate_t":
            "rate_treatment", "rate_c": "rate_control", "uplift_abs": "uplift", "ci_low":
            "ci_low", "ci_high": "ci_high", "p_value": "p_value", "incremental_revenue":
            "incremental_revenue", "cost": "cost"}
    hidden = 0
    for out in data["campaigns"]:
        total = totals[out["campaign"]]
        for mine, theirs in keys.items():
            if total[mine] is SUPPRESSED:
                hidden += 1
                assert out[theirs] is None, theirs
            else:
                assert out[theirs] == pytest.approx(float(total[mine]), abs=1e-6), theirs
    if any(t["incremental_revenue"] is SUPPRESSED for t in totals.values()):
        # the period's campaign incremental revenue adds them up: hidden too
        assert data["figures"]["incremental"]["value"] is None
        assert data["figures"]["incremental"]["suppressed"] is True
        executive = {r["label"]: r["value"] for r in page["executive"]["rows"]}
        assert executive[LABELS["en"]["fig_incremental"]] == "–"
    assert dataclasses.is_dataclass(raw)
    return hidden


def test_summary_and_json_show_the_campaign_section_figures(monitoring, summary):
    _agreement(monitoring, summary)


def test_a_figure_hidden_in_the_results_is_hidden_in_summary_and_json(monitoring, summary):
    # 60 customers, about 9 in control: the total's control group is hidden in the results
    import dataclasses

    from tests.report.test_results_suppression import _data

    from crmreport.monitor.results import campaign_results

    results = campaign_results(_data(4, 60), 30, {"email": 0.1, "letter": 1.0}, AS_OF)
    small = dataclasses.replace(monitoring, results=results)
    assert _agreement(small, summary) > 0


def test_the_pdf_sizes_the_response_tables(monitoring):
    from crmreport.report.charts import chart_makers
    from crmreport.report.format import Formatter, suppress_small
    from crmreport.report.names import with_names
    from crmreport.report.pdf import pdf_page

    safe = with_names(suppress_small(monitoring, DEFINITION.min_cell_size), {},
                      DEFINITION.language)
    names = chart_makers(safe, DEFINITION.branding, Formatter.for_report(DEFINITION))
    page = pdf_page(safe, DEFINITION, None, None, None, {n: "data:," for n in names})
    response = page[page.index('<section id="response">'):page.index("</section>",
                                                                      page.index('id="response"'))]
    assert response.count("<table") == response.count(
        '<table class="sized fixed" style="table-layout: fixed"><colgroup>') > 0


def test_templates_compiled_ahead_are_read_again_when_changed(tmp_path):
    import os

    from crmreport.report.html import compile_templates, render

    (tmp_path / "report.html.j2").write_text("{{ mode }} one")
    compile_templates(tmp_path)  # as the report does while its queries run
    assert render({}, "pdf", tmp_path) == "pdf one"
    (tmp_path / "report.html.j2").write_text("{{ mode }} two")
    later = os.stat(tmp_path / "report.html.j2").st_mtime + 1  # a second later, however fast
    os.utime(tmp_path / "report.html.j2", (later, later))
    assert render({}, "html", tmp_path) == "html two"


def test_the_pdf_sizes_the_other_sections_tables(monitoring):
    from crmreport.report.charts import chart_makers
    from crmreport.report.format import Formatter, suppress_small
    from crmreport.report.names import with_names
    from crmreport.report.pdf import pdf_page

    safe = with_names(suppress_small(monitoring, DEFINITION.min_cell_size), {},
                      DEFINITION.language)
    names = chart_makers(safe, DEFINITION.branding, Formatter.for_report(DEFINITION))
    page = pdf_page(safe, DEFINITION, None, None, None, {n: "data:," for n in names})
    for section in ("retention", "segments", "data_quality"):  # no value models here
        start = page.index(f'<section id="{section}">')
        body = page[start:page.index("</section>", start)]
        assert body.count("<table") == body.count(
            '<table class="sized fixed" style="table-layout: fixed"><colgroup>') > 0, section
