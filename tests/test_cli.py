import csv
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from crmreport.cli import main

ROOT = Path(__file__).resolve().parents[1]
CARRIERS = ("esp.csv", "print.csv", "quarantine.csv")  # outputs meant to hold the values


def _customer_values(customers: Path) -> set[str]:
    """Names, streets and e-mail addresses, and their four-character pieces."""
    with customers.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    values = {r[k] for r in rows for k in ("first_name", "last_name", "street", "email")}
    return {v[i:i + 4] for v in values if len(v) >= 4 for i in range(len(v) - 3)}


def test_check_json_accounts_for_every_row(shop: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(shop / "campaign.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    assert {f["table"] for f in files} == {"customers", "orders", "order_lines", "suppressions"}
    for f in files:
        assert f["rows_in"] == f["loaded"] + f["merged"] + f["quarantined"]
    orders = next(f for f in files if f["table"] == "orders")
    assert orders["rows_in"] == 7 and orders["flags"] == {"guest_order": 1}


def test_plan_prints_counts_and_writes_nothing(shop: Path) -> None:
    before = sorted(p.name for p in shop.iterdir())
    result = CliRunner().invoke(main, ["plan", str(shop / "campaign.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["final"] == {"vip-preview": {"email": {"treatment": 2}}}
    assert plan["excluded"]["no_permission"] == 1
    assert sorted(p.name for p in shop.iterdir()) == before


def test_config_errors_exit_1_with_location(shop: Path) -> None:
    path = shop / "campaign.yaml"
    path.write_text(path.read_text().replace("recency_days <= 90", "recncy_days <= 90"))
    result = CliRunner().invoke(main, ["plan", str(path)])
    assert result.exit_code == 1
    assert f"{path}:11" in result.stderr and "did you mean 'recency_days'" in result.stderr


def test_data_errors_exit_1_without_personal_data(shop: Path) -> None:
    (shop / "orders.csv").write_text("id,customer\nO1,anna@example.de\n")
    result = CliRunner().invoke(main, ["check", str(shop / "campaign.yaml")])
    assert result.exit_code == 1
    assert "required column 'order_id'" in result.stderr
    assert "anna@example.de" not in result.stderr


def test_usage_errors_exit_2() -> None:
    assert CliRunner().invoke(main, ["plan"]).exit_code == 2
    assert CliRunner().invoke(main, ["nonsense"]).exit_code == 2


def test_schema_is_json() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert json.loads(result.stdout)["title"] == "Campaign"


def test_clv_without_enough_repeat_buyers_says_why(shop: Path) -> None:
    result = CliRunner().invoke(main, ["clv", str(shop / "campaign.yaml"),
                                       "--out", str(shop / "clv.csv")])
    assert result.exit_code == 1
    assert "customer value is unavailable" in result.stderr and "repeat buyers" in result.stderr
    assert not (shop / "clv.csv").exists()


def test_clv_writes_predictions_for_every_buyer(tmp_path: Path) -> None:
    from crmreport.demo import generate

    generate(tmp_path, customers=1500)
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "clv.csv"
    result = CliRunner().invoke(main, ["clv", str(root / "campaigns" / "demo.yaml"),
                                       "--data-dir", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["bgnbd"]) == {"r", "alpha", "a", "b"}
    lines = out.read_text().splitlines()
    assert len(lines) - 1 == summary["customers"] > 1000
    values = [float(line.split(",")[-1]) for line in lines[1:]]
    assert min(values) >= 0 and abs(sum(values) - summary["customer_equity_52w"]) < 0.01


def test_explain_prints_verdicts_and_reason_without_personal_data(shop: Path) -> None:
    result = CliRunner().invoke(main, ["explain", str(shop / "campaign.yaml"),
                                       "--customer", "C3"])
    assert result.exit_code == 0, result.output
    assert "recent               true" in result.stdout
    assert ("decision: excluded: no_permission: no valid email address and a letter is not "
            "allowed: mail_objection") in result.stdout
    assert "Weiß" not in result.stdout and "Ringweg" not in result.stdout
    as_json = CliRunner().invoke(main, ["explain", str(shop / "campaign.yaml"),
                                        "--customer", "C1", "--json"])
    assert json.loads(as_json.stdout)["decision"]["channel"] == "email"
    missing = CliRunner().invoke(main, ["explain", str(shop / "campaign.yaml"),
                                        "--customer", "nobody"])
    assert missing.exit_code == 1 and "customer nobody" in missing.stderr


def test_plan_diffs_against_the_last_build_or_the_history(shop: Path, tmp_path: Path) -> None:
    config = str(shop / "campaign.yaml")
    first = json.loads(CliRunner().invoke(main, ["plan", config, "--json"]).stdout)
    assert first["diff"] == {"against": None, "changes": {}}
    assert CliRunner().invoke(main, ["build", config, "--out", str(tmp_path)]).exit_code == 0
    history = json.loads(CliRunner().invoke(main, ["plan", config, "--json"]).stdout)["diff"]
    assert history["against"].startswith("history run test-campaign-20260301-")
    assert history["changes"]["to contact"] == {"before": 2, "now": 0, "change": -2}
    before = sorted(p.name for p in (tmp_path / "test-campaign").iterdir())
    result = CliRunner().invoke(main, ["plan", config, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "change against" in result.stdout and "excluded.already_contacted" in result.stdout
    assert sorted(p.name for p in (tmp_path / "test-campaign").iterdir()) == before


def test_check_writes_quarantined_rows_with_their_reason(shop: Path) -> None:
    with (shop / "orders.csv").open("a") as handle:
        handle.write("O9,C1,,not-a-date,=1+1,EUR,completed,online\n")
    out = shop / "quarantine.csv"
    result = CliRunner().invoke(main, ["check", str(shop / "campaign.yaml"),
                                       "--quarantine", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert len(rows) == 2 and rows[1][:5] == ["orders", "orders.csv", "8", "", "bad_order_date"]
    assert json.loads(rows[1][5])["amount"] == "=1+1"  # kept for fixing, inside a JSON cell
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in rows[1])
    assert "1 quarantined rows written" in result.stderr


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    """Every command under ``group``, as typed after ``crmreport`` ("plan", "a b" if nested)."""
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{path} ")


def _usage_block() -> str:
    """The shell block under README's "Using it on your own data"."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using it on your own data", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("path", [path for path, _ in _commands(main)])
def test_every_command_has_an_example_and_is_in_the_readme(path: str) -> None:
    result = CliRunner().invoke(main, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^\s*Example:\s+crmreport " + re.escape(path), result.stdout, re.M), (
        f"`crmreport {path} --help` has no 'Example:  crmreport {path} ...' line")
    assert re.search(r"^crmreport\s+" + re.escape(path) + r"\b", _usage_block(), re.M), (
        f"`crmreport {path}` is missing from README's usage block")


def test_explain_json_keys_per_decision(shop: Path) -> None:
    def decision(customer: str) -> dict[str, Any]:
        out = CliRunner().invoke(main, ["explain", str(shop / "campaign.yaml"),
                                        "--customer", customer, "--json"])
        return dict(json.loads(out.stdout)["decision"])

    assert set(decision("C1")) == {"channels", "why_offer", "status", "channel", "test_group",
                                   "variant", "coupon", "suggested_category", "reason"}
    excluded = decision("C3")
    assert set(excluded) == {"channels", "why_offer", "status", "excluded", "reason"}
    assert set(excluded["channels"]["email"]) == {"in_offer", "allowed", "suppressed", "why"}
    assert decision("C2") == {"status": "no_offer",
                              "reason": "no offer is eligible in segment 'others'"}


@pytest.mark.parametrize("address", ['a"b@example.de', "jürgen@müller.de"])
def test_a_bad_address_is_set_aside_and_the_build_goes_on(shop: Path, tmp_path: Path,
                                                        address: str) -> None:
    customers = shop / "customers.csv"
    customers.write_text(customers.read_text(encoding="utf-8").replace(
        "C1,anna@example.de", 'C1,"{}"'.format(address.replace('"', '""'))), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(shop / "campaign.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning: 1 recipients could not be rendered" in result.output
    folder = out / "test-campaign"
    assert "C1,email,invalid_address" in (folder / "not_rendered.csv").read_text()
    assert not (folder / "emails" / "C1.eml").exists()
    assert "C1" not in (shop / "contacts.csv").read_text()
    assert json.loads((folder / "manifest.json").read_text())["counts"]["not_rendered"] == 1


@pytest.mark.parametrize(("rule", "message"), [
    ("(" * 500 + "recency_days > 1" + ")" * 500, "nests more than 50 levels deep"),
    ("recency_days" + " + 1" * 5000 + " > 0", "characters long (at most 10,000)"),
    ("recency_days * 9223372036854775807 * 9223372036854775807 > 0",
     "cannot be evaluated for every customer: a number grows beyond the engine's range"),
    ("recency_days % 0 = 1", "'recency_days % 0' divides by zero"),
    ("recency_days / 0 > 1", "'recency_days / 0' divides by zero"),
    ("'x'", "is not a condition (true or false)"),
])
def test_hostile_rules_exit_1_with_the_rule_named(shop: Path, rule: str, message: str) -> None:
    config = shop / "campaign.yaml"
    quoted = rule.replace("'", "''")
    config.write_text(config.read_text(encoding="utf-8").replace(
        'when: "TRUE"', f"when: '{quoted}'"), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(config)])
    assert result.exit_code == 1 and not isinstance(result.exception, RecursionError)
    assert "segment 'others'" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_a_text_column_as_a_condition_is_named_without_its_values(shop: Path) -> None:
    config = shop / "campaign.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'when: "TRUE"', 'when: "country"'), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(config)])
    assert result.exit_code == 1 and "segment 'others': cannot be evaluated" in result.output
    assert "'DE'" not in result.output and "GB" not in result.output


def test_a_history_field_over_128_kb_is_an_exit_1_message(shop: Path, tmp_path: Path) -> None:
    config = str(shop / "campaign.yaml")
    assert CliRunner().invoke(main, ["build", config, "--out", str(tmp_path)]).exit_code == 0
    history = shop / "contacts.csv"
    lines = history.read_text(encoding="utf-8").splitlines()
    # every contact moved to an unknown customer, so the build has someone new to contact
    huge = [re.sub(r",C\d,", ",C9,", line).replace("vip-preview", "x" * 200_000, 1)
            for line in lines[1:]]
    history.write_text("\n".join([lines[0], *huge]) + "\n", encoding="utf-8")
    plan = CliRunner().invoke(main, ["plan", config])  # reads the history through the engine
    assert plan.exit_code in (0, 1) and isinstance(plan.exception, SystemExit | None)
    result = CliRunner().invoke(main, ["build", config, "--out", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "the contact history cannot be read (field larger than field limit" in result.output
    assert "a cell is longer than 131,072 characters" in result.output
    assert not list(tmp_path.glob("*NOT-SENT*"))  # refused before rendering, nothing aside


_HOSTILE = [
    "{{ street | date }}", "{{ {street[:6]: 1}[email[:7]] }}", "{{ '%d' % last_name[:5] }}",
    "{{ street[:6] | replace(email[:3], 1) }}", "{{ first_name[:4] is divisibleby 3 }}",
    "{{ street.center(999999999) }}", "{{ (email ~ '%s') | format(1, 2) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
]


@pytest.mark.parametrize("body", _HOSTILE)
def test_no_customer_value_in_any_message_of_a_hostile_build(shop: Path, tmp_path: Path,
                                                            body: str) -> None:
    templates = tmp_path / "hostile"
    shutil.copytree(ROOT / "templates", templates)
    for language in ("de", "en"):
        (templates / "email" / language / "vip.txt.j2").write_text(
            "{% block subject %}Hi{% endblock %}{% block body %}" + body + "{% endblock %}",
            encoding="utf-8")
    config = shop / "campaign.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        str(ROOT / "templates"), str(templates)), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(config), "--out", str(out)])
    # stopped with a message, or built with the customers it fails set aside
    assert isinstance(result.exception, SystemExit | None), result.output
    assert result.exit_code == 1 or (out / "test-campaign" / "not_rendered.csv").is_file()
    # every file but those meant to carry the values (emails, letters, ESP/print/quarantine)
    texts = [result.output, *(p.read_text(encoding="utf-8", errors="replace")
                              for p in out.rglob("*") if p.is_file() and p.suffix not in
                              (".eml", ".pdf") and p.name not in CARRIERS)]
    assert any("vip.txt.j2" in text for text in texts)
    for value in _customer_values(shop / "customers.csv"):
        assert not any(value in text for text in texts), value


def test_report_by_period_with_json_and_fail_on(shop: Path) -> None:
    definition = shop / "ci.yaml"
    definition.write_text("report: ci\ntitle: CI report\nlanguage: de\n"
                          "fail_on: {no_orders_in_period: true, quarantined_share: 0.5}\n",
                          encoding="utf-8")
    out = shop / "reports"
    args = ["report", str(shop / "campaign.yaml"), "--definition", str(definition),
            "--out", str(out), "--json", str(shop / "summary.json")]
    # as of Monday 9 March 2026 the last complete week is 2 to 8 March: the shop has no order
    result = CliRunner().invoke(main, [*args, "--as-of", "2026-03-09"])
    assert result.exit_code == 1, result.output
    assert "fail_on: no customer bought in 2026-W10 (2026-03-02 to 2026-03-08)" in result.stderr
    assert (out / "2026-W10" / "report.pdf").read_bytes().startswith(b"%PDF")
    data = json.loads((shop / "summary.json").read_text(encoding="utf-8"))
    assert data["failed"] is True and data["period"]["name"] == "2026-W10"
    assert [c["rule"] for c in data["checks"] if c["failed"]] == ["no_orders_in_period"]
    html = (out / "2026-W10" / "report.html").read_text(encoding="utf-8")
    assert str(shop) not in html  # paths relative to the campaign file
    # the same period again replaces its folder as a whole
    (out / "2026-W10" / "stray.txt").write_text("old", encoding="utf-8")
    again = CliRunner().invoke(main, [*args, "--as-of", "2026-03-09"])
    assert again.exit_code == 1 and not (out / "2026-W10" / "stray.txt").exists()
    # the campaign's as_of (Sunday 1 March) reports week 8, with C1's order of 20 February
    ok = CliRunner().invoke(main, [*args, "--period", "week"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines()[0] == str(out / "2026-W08" / "report.html")
    week8 = json.loads((shop / "summary.json").read_text(encoding="utf-8"))
    assert week8["figures"]["revenue"]["suppressed"] is True  # one buyer, fewer than 10


def test_report_schemas_are_json() -> None:
    for kind in ("report", "summary"):
        result = CliRunner().invoke(main, ["schema", kind])
        assert result.exit_code == 0 and json.loads(result.stdout)["properties"]
    report = json.loads(CliRunner().invoke(main, ["schema", "report"]).stdout)
    assert {"fail_on", "period", "orientation", "email"} <= set(report["properties"])


@pytest.mark.parametrize("command", ["check", "plan", "build", "report", "clv"])
def test_a_missing_campaign_file_is_a_usage_error(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "campaign.yaml"
    result = CliRunner().invoke(main, [command, str(missing)])
    assert result.exit_code == 2
    assert (f"Invalid value for 'CONFIG': {missing} does not exist; give the path of a YAML "
            "file, e.g. campaigns/demo.yaml") in result.stderr


def test_explain_of_a_missing_campaign_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["explain", str(tmp_path / "x.yaml"), "--customer", "C1"])
    assert result.exit_code == 2 and "x.yaml does not exist" in result.stderr


def test_an_impossible_as_of_exits_1_naming_the_line(shop: Path) -> None:
    path = shop / "campaign.yaml"
    path.write_text(path.read_text().replace("as_of: 2026-03-01", "as_of: 2026-02-30"))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert (f"{path}:2: as_of: '2026-02-30' is not a valid date (day value is outside "
            "expected range)") in result.stderr


def test_a_missing_secret_fails_build_before_any_data_is_read(
        shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRMREPORT_SECRET")
    (shop / "customers.csv").unlink()  # reading the data would fail on this
    result = CliRunner().invoke(main, ["build", str(shop / "campaign.yaml"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: environment: CRMREPORT_SECRET: the unsubscribe "
                                    "secret is not set (set CRMREPORT_SECRET to a long random "
                                    "string")
    assert "customers.csv" not in result.stderr


def test_demo_with_a_missing_report_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "out"),
                                       "--report", str(tmp_path / "r.yaml")])
    assert result.exit_code == 2
    assert "r.yaml does not exist; give the path of a YAML file, e.g. reports/weekly.yaml" \
        in result.stderr
    assert not (tmp_path / "out").exists()  # refused before generating anything


def test_an_unquoted_country_code_suggests_quoting_it(shop: Path) -> None:
    campaign = shop / "campaign.yaml"
    campaign.write_text(campaign.read_text().replace("recency_days <= 90",
                                                     "recency_days <= 90 AND country = DE"))
    result = CliRunner().invoke(main, ["check", str(campaign)])
    assert result.exit_code == 1
    assert (f"{campaign}:11: segments[0].when: segment 'recent': unknown column 'DE' (to "
            "compare with the text DE, quote it: 'DE')") in result.stderr


READING_COMMANDS = ["check", "plan", "explain", "build", "preview", "report", "clv", "demo"]


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_every_command_that_reads_data_takes_an_engine(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert "--engine [duckdb|spark]" in result.output and "--spark-master URL" in result.output


def test_plan_on_the_duckdb_engine_equals_the_default(shop: Path) -> None:
    campaign = str(shop / "campaign.yaml")
    default = CliRunner().invoke(main, ["plan", campaign, "--json"])
    duckdb = CliRunner().invoke(main, ["plan", campaign, "--json", "--engine", "duckdb"])
    assert default.exit_code == duckdb.exit_code == 0, duckdb.output
    assert duckdb.stdout == default.stdout


def test_spark_without_pyspark_says_how_to_install_it(shop: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from crmreport import spark_setup

    monkeypatch.setattr(spark_setup, "_importable", lambda name: False)
    result = CliRunner().invoke(main, ["plan", str(shop / "campaign.yaml"), "--engine", "spark"])
    assert result.exit_code == 1
    assert "engine: spark needs pyspark, which is not installed" in result.stderr
    assert "pip install 'crmreport[spark]'" in result.stderr


def test_an_unreachable_spark_connect_server_is_named_with_what_to_do(shop: Path) -> None:
    """A closed port: a clear error at once, not the Connect client's retries and gRPC trace."""
    import socket

    from crmreport import spark_setup

    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        url = f"sc://127.0.0.1:{probe.getsockname()[1]}"
    if spark_setup.missing(url):
        pytest.skip(spark_setup.missing(url)[0][0])
    result = CliRunner().invoke(main, ["plan", str(shop / "campaign.yaml"), "--engine", "spark",
                                       "--spark-master", f"{url}/;token=s3cr3t"])
    assert result.exit_code == 1
    assert f"no Spark Connect server answers at {url} (Connection refused)" in result.stderr
    assert "start the server (Spark's sbin/start-connect-server.sh)" in result.stderr
    assert "Traceback" not in result.stderr and "grpc" not in result.stderr.lower()
    assert "s3cr3t" not in result.stderr  # a Connect URL's token is a password


def test_a_spark_master_without_the_spark_engine_is_refused(shop: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(shop / "campaign.yaml"),
                                       "--spark-master", "local[2]"])
    assert result.exit_code == 1
    assert "--spark-master: a Spark master is given but the engine is duckdb" in result.stderr


def test_the_console_command_ends_with_its_exit_code_and_all_its_output(tmp_path):
    """``python -m crmreport`` ends without the interpreter's teardown (cli.run): its output
    is still whole on a pipe, its exit code the command's, and other exit handlers run."""
    import subprocess
    import sys

    schema = CliRunner().invoke(main, ["schema"]).output
    done = subprocess.run([sys.executable, "-m", "crmreport", "schema"], capture_output=True,
                          text=True, check=False)
    assert (done.returncode, done.stdout) == (0, schema) and len(schema) > 10_000
    usage = subprocess.run([sys.executable, "-m", "crmreport", "check",
                            str(tmp_path / "missing.yaml")], capture_output=True, text=True,
                           check=False)
    assert usage.returncode == 2 and "does not exist" in usage.stderr
    # a command's own exit handlers (logging's, multiprocessing's) run before the end
    command = ("import atexit, sys\nimport crmreport.cli as cli\ndef command():\n"
               "    atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
               "    print('written')\n    raise SystemExit(3)\ncli.main = command\ncli.run()")
    ended = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True,
                           check=False)
    assert (ended.returncode, ended.stdout, ended.stderr) == (3, "written\n", "handler ran\n")
