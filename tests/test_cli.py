import json
from pathlib import Path

from click.testing import CliRunner

from crmreport.cli import main


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
