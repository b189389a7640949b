import email
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmreport import pipeline
from crmreport.cli import main
from crmreport.config import load_campaign


@pytest.mark.parametrize("lang", ["de", "en"])
def test_init_then_check_passes(tmp_path: Path, lang: str) -> None:
    folder = tmp_path / "shop"
    result = CliRunner().invoke(main, ["init", str(folder), "--lang", lang])
    assert result.exit_code == 0, result.output
    checked = CliRunner().invoke(main, ["check", str(folder / "campaign.yaml")])
    assert checked.exit_code == 0, checked.output
    assert "configuration, rules and templates are valid" in checked.stderr
    footer = (folder / "templates" / "email" / "hello.txt.j2").read_text()
    assert "{{ objection_notice }}" in footer and "{{ imprint |" in footer
    readme = (folder / "data" / "README.md").read_text()
    assert "`shopify`" in readme and "`email_consent`" in readme


def test_init_templates_render_for_every_combination(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    assert CliRunner().invoke(main, ["init", str(folder), "--lang", "en"]).exit_code == 0
    preview = pipeline.preview(load_campaign(folder / "campaign.yaml"), tmp_path / "proofs")
    assert preview.proofs and not preview.problems
    letter = next(p for p in preview.proofs if p.channel == "letter")
    assert letter.subject in ("Thank you for shopping with us", "Welcome back: 15% off for you")
    mail = next(p for p in preview.proofs if p.channel == "email")
    message = email.message_from_bytes((tmp_path / "proofs" / mail.file).read_bytes(),
                                       policy=email.policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    text = " ".join(body.get_content().split())
    # the imprint and the objection notice (naming its address), filled in from `sender:`
    assert "Amtsgericht Dresden, HRB 00000" in text and "datenschutz@shop.example" in text


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert "not empty" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
