from decimal import Decimal

from crmreport.files import safe_cell


def test_numbers_stay_numbers_and_text_formulas_are_defused() -> None:
    assert [safe_cell(v) for v in (Decimal("-95.93"), -3, -0.5)] == ["-95.93", "-3", "-0.5"]
    assert [safe_cell(v) for v in ("-95.93", "=SUM(A1)", "+1", "@x")] == [
        "'-95.93", "'=SUM(A1)", "'+1", "'@x"]
