"""check proves every template: rendered for a sample recipient in every locale of the data."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import ROOT

from crmreport.cli import main


@pytest.fixture
def own_templates(shop: Path) -> Path:
    """The shop, its campaign reading a copy of the templates that a test may break."""
    shutil.copytree(ROOT / "templates", shop / "templates")
    campaign = shop / "campaign.yaml"
    campaign.write_text(campaign.read_text().replace(str(ROOT / "templates"),
                                                     str(shop / "templates")))
    return shop


def _check(shop: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", str(shop / "campaign.yaml")])
    return result.exit_code, result.stderr


def test_a_campaign_with_sound_templates_passes(own_templates: Path) -> None:
    code, stderr = _check(own_templates)
    assert code == 0, stderr
    assert "configuration, rules and templates are valid" in stderr


def test_a_misspelt_template_name_fails_with_the_closest_name(own_templates: Path) -> None:
    campaign = own_templates / "campaign.yaml"
    campaign.write_text(campaign.read_text().replace("{email: vip,", "{email: vpi,"))
    code, stderr = _check(own_templates)
    assert code == 1
    assert (f"error: {campaign}:17: offers[0].templates.email: email template 'vpi' of offer "
            "'vip-preview': template not found: looked for templates/email/de/vpi.txt.j2, "
            "templates/email/vpi.txt.j2 (did you mean 'vip'? email templates in templates/: "
            "vip, welcome, winback)") in stderr
    assert stderr.count("template not found") == 1  # once, not once per locale


def test_a_jinja_syntax_error_fails_with_file_and_line(own_templates: Path) -> None:
    template = own_templates / "templates" / "letter" / "en" / "vip.html.j2"
    lines = template.read_text().splitlines(keepends=True)
    lines[3] = "{% if %}\n"
    template.write_text("".join(lines))
    code, stderr = _check(own_templates)
    assert code == 1
    assert ("offers[0].templates.letter: letter template 'vip' of offer 'vip-preview': "
            "templates/letter/en/vip.html.j2 line 4: syntax error: Expected an expression, "
            "got 'end of statement block' (correct the tag on that line: {{ ... }} for "
            "values, {% ... %} for blocks)") in stderr


def test_an_undefined_field_fails_without_any_customer_value(own_templates: Path) -> None:
    template = own_templates / "templates" / "email" / "de" / "vip.txt.j2"
    template.write_text(template.read_text().replace("{% block body %}",
                                                     "{% block body %}{{ frist_name }}", 1))
    code, stderr = _check(own_templates)
    assert code == 1
    assert ("templates/email/de/vip.txt.j2 line 3: 'frist_name' is undefined for a sample "
            "recipient (every merge field filled) (did you mean 'first_name'? no recipient "
            "has this merge field; write a fallback such as {{ frist_name | default('...') }} "
            "if it is optional)") in stderr
    for value in ("Anna", "Müller", "anna@example.de", "Hauptstraße"):
        assert value not in stderr


def test_a_render_time_error_fails_check(own_templates: Path) -> None:
    template = own_templates / "templates" / "email" / "en" / "vip.html.j2"
    template.write_text(template.read_text().replace("{% block content %}",
                                                     "{% block content %}{{ orders / 0 }}", 1))
    code, stderr = _check(own_templates)
    assert code == 1
    assert "templates/email/en/vip.html.j2" in stderr
    assert "ZeroDivisionError" in stderr and "a sample recipient" in stderr

