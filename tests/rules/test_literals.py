"""Values in rules that the data lacks are warnings with the closest value (check exits 0)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmreport.cli import main


def _check_with_rule(shop: Path, rule: str, *extra: str) -> tuple[int, str, str]:
    campaign = shop / "campaign.yaml"
    text = campaign.read_text().replace("    segments: [recent]\n",
                                        f'    segments: [recent]\n    when: "{rule}"\n')
    campaign.write_text(text + "".join(extra))
    result = CliRunner().invoke(main, ["check", str(campaign)])
    return result.exit_code, result.stderr, f"{campaign}:16: offers[0].when: offer 'vip-preview'"


def test_a_misspelt_category_is_a_warning_with_the_closest_one(shop: Path) -> None:
    code, stderr, where = _check_with_rule(shop, "NOT bought_category('outdor', 60)")
    assert code == 0, stderr
    assert (f"warning: {where}: bought_category('outdor'): no such category in the data; "
            "did you mean 'outdoor'?") in stderr
    assert "valid, with 1 warning(s) above" in stderr


@pytest.mark.parametrize(("rule", "warning"), [
    ("bought_product('BK-9', 30)", "bought_product('BK-9'): no such SKU in the data; did you "
                                   "mean 'BK-3'?"),
    ("country IN ('DE', 'DX')", "country 'DX': no such value of country in the data"),
    ("top_category = 'book'", "top_category 'book': no such value of top_category in the "
                              "data; did you mean 'books'?"),
    ("NOT contacted_in('sprng')", "contacted_in('sprng'): no such campaign in the contact "
                                  "history in the data"),
])
def test_values_the_data_lacks_are_warnings(shop: Path, rule: str, warning: str) -> None:
    code, stderr, where = _check_with_rule(shop, rule)
    assert code == 0, stderr
    assert f"warning: {where}: {warning}" in stderr


def test_values_the_data_has_give_no_warning(shop: Path) -> None:
    code, stderr, _ = _check_with_rule(
        shop, "bought_category('OUTDOOR', 600) OR country IN ('DE', 'GB')")
    assert code == 0, stderr
    assert "warning" not in stderr


def test_list_values_no_customer_has_are_a_warning(shop: Path) -> None:
    (shop / "vips.csv").write_text("customer_id\nC1\nC01\n")
    code, stderr, where = _check_with_rule(shop, "in_list('vips', customer_id)",
                                           "lists: {vips: vips.csv}\n")
    assert code == 0, stderr
    assert (f"warning: {where}: in_list('vips', customer_id): 1 value(s) of the list match "
            "no customer's customer_id, e.g. 'C01'; did you mean 'C1'?") in stderr


def test_warnings_are_in_the_json(shop: Path) -> None:
    _check_with_rule(shop, "NOT bought_category('outdor', 60)")
    result = CliRunner().invoke(main, ["check", str(shop / "campaign.yaml"), "--json"])
    assert result.exit_code == 0
    [warning] = json.loads(result.stdout)["warnings"]
    assert warning.endswith("did you mean 'outdoor'?")


def test_an_offer_segment_without_customers_is_a_warning(shop: Path) -> None:
    campaign = shop / "campaign.yaml"
    text = campaign.read_text().replace(
        '  - {id: others, when: "TRUE"}',
        '  - {id: dormant, when: "recency_days > 5000"}\n  - {id: others, when: "TRUE"}')
    campaign.write_text(text.replace("segments: [recent]", "segments: [recent, dormant]"))
    result = CliRunner().invoke(main, ["check", str(campaign)])
    assert result.exit_code == 0, result.stderr
    assert (f"warning: {campaign}:16: offers[0].segments[1]: offer 'vip-preview': segment "
            "'dormant' has no customer in the data (check the segment's rule, or the segments "
            "before it: the first that matches wins)") in result.stderr
