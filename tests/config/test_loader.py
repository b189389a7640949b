import datetime as dt
from pathlib import Path

import pytest

from crmreport.config import load_campaign, load_report, schema
from crmreport.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_demo_campaign_and_report_load() -> None:
    loaded = load_campaign(ROOT / "campaigns" / "demo.yaml", data_dir=Path("/data"))
    assert loaded.config.campaign == "spring-2026"
    assert loaded.config.as_of == dt.date(2026, 3, 1)
    assert loaded.data_path("customers.csv") == Path("/data/customers.csv")
    assert loaded.template_dir == (ROOT / "templates").resolve()
    assert load_report(ROOT / "reports" / "weekly.yaml").sections


BROKEN = """\
campaign: spring
as_of: 2026-03-01
data:
  customers: {path: c.csv}
  orders: {path: o.csv}
segments:
  - {id: champions, when: "TRUE"}
offers:
  - id: vip
    segments: [champs]
    chanels: [email]
    templates: {email: vip}
policy: {control_group: 0.1}
channels: {}
"""


def test_every_problem_is_reported_with_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    problems = {p.key: p for p in info.value.problems}
    assert problems["offers[0].chanels"].line == 11
    assert "did you mean 'channels'" in problems["offers[0].chanels"].fix
    assert problems["offers[0].channels"].message == "required key is missing"
    assert problems["policy.seed"].line == 13
    assert str(path) in str(info.value)


def test_unknown_segment_in_offer_suggests_the_closest(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BROKEN.replace("chanels", "channels").replace("control_group: 0.1",
                                                                  "seed: s"))
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    messages = [str(p) for p in info.value.problems]
    assert any("unknown segment 'champs'" in m and "did you mean 'champions'" in m
               and ":10:" in m for m in messages)
    assert any("channel 'email' is not configured" in m for m in messages)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("campaign: [unclosed\n", "invalid YAML"),
     ("campaign: a\ncampaign: b\n", "key appears twice"),
     ("- just a list\n", "expected a mapping")],
)
def test_broken_yaml_names_the_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle) as info:
        load_campaign(path)
    assert info.value.problems[0].file == str(path)


def test_as_of_today_only_when_written(tmp_path: Path) -> None:
    text = (ROOT / "campaigns" / "demo.yaml").read_text().replace("as_of: 2026-03-01",
                                                                  "as_of: today")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert load_campaign(path, today=dt.date(2030, 1, 2)).config.as_of == dt.date(2030, 1, 2)


def test_schema_is_json_schema_with_aliases() -> None:
    text = schema()
    assert '"$defs"' in text and '"from"' in text


def test_variant_shares_ids_and_channels_are_checked(tmp_path: Path) -> None:
    text = (ROOT / "campaigns" / "demo.yaml").read_text().replace(
        "      - {id: B, share: 0.5}    #",
        "      - {id: A, share: 0.3}    #")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_campaign(path)
    message = str(info.value)
    assert "id 'A' is used twice" in message and "variant shares add up to 0.8, not 1" in message
    path.write_text(text.replace("{id: A, share: 0.3}", "{id: B, share: 0.5, "
                                                         "templates: {sms: x}}"))
    with pytest.raises(ConfigError, match=r"templates\.sms"):
        load_campaign(path)


def test_offer_value_is_a_number_or_an_expression(tmp_path: Path) -> None:
    text = (ROOT / "campaigns" / "demo.yaml").read_text().replace("value: 40", "value: -1")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="value"):
        load_campaign(path)
    loaded = load_campaign(ROOT / "campaigns" / "demo.yaml")
    assert any(isinstance(o.value, str) for o in loaded.config.offers)


def test_an_impossible_date_is_a_located_error_not_a_traceback(tmp_path: Path) -> None:
    text = (ROOT / "campaigns" / "demo.yaml").read_text()
    path = tmp_path / "c.yaml"
    path.write_text(text.replace("as_of: 2026-03-01", "as_of: 2026-02-30"))
    with pytest.raises(ConfigError) as caught:
        load_campaign(path)
    assert str(caught.value) == (
        f"{path}:4: as_of: '2026-02-30' is not a valid date (day value is outside expected "
        "range) (write a day of the calendar as YYYY-MM-DD, e.g. 2026-02-28)")


def test_letters_split_into_one_pdf_each_only_when_asked() -> None:
    from crmreport.config.models import LetterChannel

    assert LetterChannel(return_address="Shop · Weg 1 · 01067 Dresden").split is False
    assert LetterChannel(return_address="x", split=True).split is True
    with pytest.raises(ValueError, match="split"):
        LetterChannel(return_address="x", split="sometimes")
