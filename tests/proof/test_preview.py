import email
import email.policy
import hashlib
import json
import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import ROOT

from crmreport import pipeline
from crmreport.cli import main
from crmreport.config import load_campaign
from crmreport.errors import DataError
from crmreport.proof import PLACEHOLDER_COUPON

POOL = "code\nSPRING-001\nSPRING-002\nSPRING-003\nSPRING-004\n"
HISTORY = ("run_id,campaign,customer_id,contacted_at,channel,segment,offer,variant,"
           "test_group,content_hash,coupon\nold-1,old,C9,2025-01-01,email,x,y,A,treatment,,\n")


def with_pool(shop: Path) -> Path:
    """Every segment gets the offer, with a coupon pool; a history of another campaign."""
    campaign = shop / "campaign.yaml"
    text = campaign.read_text().replace("segments: [recent]", "segments: [recent, others]")
    text = text.replace("templates: {email: vip, letter: vip}",
                        "templates: {email: winback, letter: winback}\n"
                        "    coupons: {pool: coupons.csv}")
    campaign.write_text(text)
    (shop / "coupons.csv").write_text(POOL)
    (shop / "contacts.csv").write_text(HISTORY)
    return campaign


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_preview_writes_one_proof_per_combination_and_records_nothing(
        shop: Path, tmp_path: Path) -> None:
    campaign = with_pool(shop)
    before = hashes(shop)
    result = pipeline.preview(load_campaign(campaign), tmp_path / "proofs")
    assert hashes(shop) == before  # history, pool and every input byte-identical
    combos = {(p.segment, p.offer, p.channel, p.variant, p.locale): p.recipients
              for p in result.proofs}
    # C1, C5: email; C2: letter, no consent; C4: letter, email suppressed
    assert combos == {("recent", "vip-preview", "email", "A", "de_DE"): 2,
                      ("others", "vip-preview", "letter", "A", "de_DE"): 1,
                      ("others", "vip-preview", "letter", "A", "en_GB"): 1}
    md5 = {c: hashlib.md5(c.encode()).hexdigest() for c in ("C1", "C5")}
    email_proof = next(p for p in result.proofs if p.channel == "email")
    assert email_proof.customer_id == min(md5, key=md5.__getitem__)
    written = sorted(p.name for p in (tmp_path / "proofs").iterdir())
    assert [n for n in written if n.endswith((".eml", ".pdf"))] == sorted(
        p.file for p in result.proofs)
    eml = (tmp_path / "proofs" / email_proof.file).read_text()
    assert PLACEHOLDER_COUPON in eml and "SPRING-00" not in eml
    sheet = (tmp_path / "proofs" / "index.html").read_text()
    assert sheet.count('class="card"') == 3 and email_proof.subject in sheet
    assert json.loads((tmp_path / "proofs" / "preview.json").read_text())["proofs"]


def test_preview_refuses_to_replace_a_folder_that_holds_no_proofs(
        shop: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        pipeline.preview(load_campaign(shop / "campaign.yaml"), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_preview_of_one_customer_and_why_another_gets_nothing(
        shop: Path, tmp_path: Path) -> None:
    campaign = with_pool(shop)
    result = pipeline.preview(load_campaign(campaign), tmp_path / "one", customer_id="C5")
    assert [(p.customer_id, p.recipients) for p in result.proofs] == [("C5", 2)]
    with pytest.raises(DataError, match=r"C3 gets nothing .*excluded"):
        pipeline.preview(load_campaign(campaign), tmp_path / "none", customer_id="C3")


def test_redacted_proofs_carry_no_real_name_address_or_id(shop: Path, tmp_path: Path) -> None:
    campaign = with_pool(shop)
    result = pipeline.preview(load_campaign(campaign), tmp_path / "out", redact=True)
    assert sorted(p.customer_id for p in result.proofs) == ["PROOF-01", "PROOF-02",
                                                            "PROOF-03"]
    folder = tmp_path / "out"
    text = "".join([*(p.read_text() for p in folder.glob("*.html")),
                    (folder / "preview.json").read_text(),
                    *(_decoded(p) for p in folder.glob("*.eml"))])
    for personal in ("Anna", "Müller", "anna@example.de", "Ben", "Smith", "High St",
                     "SW1A", "Klein", "Am Markt", "C1", "C2", "C4", "C5", "eve@"):
        assert personal not in text
    assert "proof-0" in text  # the invented addresses


def _decoded(eml: Path) -> str:
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    parts = [message.get_body((kind,)) for kind in ("plain", "html")]
    return str(message["To"]) + "".join(str(p.get_content()) for p in parts if p)


def test_cli_preview_prints_the_contact_sheet(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "p"
    result = CliRunner().invoke(main, ["preview", str(shop / "campaign.yaml"), "--out",
                                       str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "index.html")
    assert "nothing was recorded" in result.stderr


def test_a_proof_whose_template_fails_is_shown_and_the_others_are_made(
        shop: Path, tmp_path: Path) -> None:
    templates = shop / "templates"
    shutil.copytree(ROOT / "templates", templates)
    broken = templates / "email" / "de" / "vip.txt.j2"
    broken.write_text(broken.read_text().replace("{% endblock %}",
                                                 "{{ no_such_field }}{% endblock %}", 2))
    campaign = shop / "campaign.yaml"
    campaign.write_text(campaign.read_text().replace(str(ROOT / "templates"), str(templates)))
    result = CliRunner().invoke(main, ["preview", str(campaign), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "not rendered" in result.stderr and "vip.txt.j2" in result.stderr
    assert "Traceback" not in result.output
    sheet = (tmp_path / "p" / "index.html").read_text()
    assert 'class="card failed"' in sheet and "no_such_field" in sheet
