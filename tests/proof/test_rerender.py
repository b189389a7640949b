import csv
import hashlib
import shutil
from pathlib import Path

from click.testing import CliRunner
from tests.conftest import ROOT
from tests.proof.test_preview import with_pool

from crmreport import pipeline
from crmreport.cli import main
from crmreport.config import load_campaign

FILES = ("contacts.csv", "esp.csv", "print.csv")
NEW_TEXT = "Versand heute gratis"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def built(shop: Path, tmp_path: Path) -> tuple[Path, pipeline.BuildResult]:
    campaign = with_pool(shop)
    result = pipeline.build(load_campaign(campaign), tmp_path / "out")
    assert result.run_id and result.emails == 2 and result.letters == 2
    return campaign, result


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def without(records: list[dict[str, str]], column: str) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != column} for r in records]


def change_email_template(shop: Path, campaign: Path) -> None:
    """A copy of the templates whose German win-back email has one more sentence."""
    templates = shop / "templates"
    shutil.copytree(ROOT / "templates", templates)
    for name in ("winback.txt.j2", "winback.html.j2"):
        path = templates / "email" / "de" / name
        path.write_text(path.read_text().replace("Wir freuen uns auf Sie!",
                                                 f"{NEW_TEXT}. Wir freuen uns auf Sie!"))
    text = campaign.read_text()
    campaign.write_text(text.replace(str(ROOT / "templates"), str(templates)))


def test_rerender_reproduces_the_run_and_records_nothing(shop: Path, tmp_path: Path) -> None:
    campaign, first = built(shop, tmp_path)
    history = sha(shop / "contacts.csv")
    assert first.run_id is not None
    again, plan = pipeline.rerender(load_campaign(campaign), tmp_path / "again", first.run_id)
    assert again.out_dir == tmp_path / "again" / f"{first.run_id}.rerender"
    for name in FILES:
        assert sha(again.out_dir / name) == sha(first.out_dir / name), name
    assert (again.emails, again.letters, again.contacts_added) == (2, 2, 0)
    assert plan.recorded == 4 and not plan.withheld
    assert sha(shop / "contacts.csv") == history


def test_rerender_after_a_template_fix_keeps_recipients_variants_and_codes(
        shop: Path, tmp_path: Path) -> None:
    campaign, first = built(shop, tmp_path)
    assert first.run_id is not None
    history = sha(shop / "contacts.csv")
    change_email_template(shop, campaign)
    again, _ = pipeline.rerender(load_campaign(campaign), tmp_path / "again", first.run_id)
    old, new = first.out_dir, again.out_dir
    assert sha(new / "print.csv") == sha(old / "print.csv")
    # what changed is the emails' content, so their hashes and Message-IDs
    assert without(rows(new / "esp.csv"), "message_id") == without(rows(old / "esp.csv"),
                                                                   "message_id")
    assert without(rows(new / "contacts.csv"), "content_hash") == without(
        rows(old / "contacts.csv"), "content_hash")
    assert {r["coupon"] for r in rows(new / "contacts.csv")} == {
        "SPRING-001", "SPRING-002", "SPRING-003", "SPRING-004"}
    for eml in (new / "emails").glob("*.eml"):
        assert NEW_TEXT in eml.read_text()
        assert NEW_TEXT not in (old / "emails" / eml.name).read_text()
    assert sha(shop / "contacts.csv") == history


def test_rerender_withholds_a_recipient_who_unsubscribed_since(
        shop: Path, tmp_path: Path) -> None:
    campaign, first = built(shop, tmp_path)
    assert first.run_id is not None
    with (shop / "unsubscribes.csv").open("a") as handle:
        handle.write("eve@example.de,email,unsubscribe,2026-03-02\n")
    again, plan = pipeline.rerender(load_campaign(campaign), tmp_path / "again", first.run_id)
    assert dict(plan.withheld) == {"suppressed": 1}
    assert sorted(p.name for p in (again.out_dir / "emails").iterdir()) == ["C1.eml"]
    assert "C5" not in {r["customer_id"] for r in rows(again.out_dir / "contacts.csv")}


def test_dry_run_renders_everything_and_uses_up_nothing(shop: Path, tmp_path: Path) -> None:
    campaign = with_pool(shop)
    history = sha(shop / "contacts.csv")
    dry = pipeline.dry_run(load_campaign(campaign), tmp_path / "out")
    assert dry.out_dir == tmp_path / "out" / "test-campaign.dry-run"
    assert "Do not send" in (dry.out_dir / "NOT-RECORDED.txt").read_text()
    assert (dry.emails, dry.letters, dry.contacts_added) == (2, 2, 0)
    assert sha(shop / "contacts.csv") == history
    real = pipeline.build(load_campaign(campaign), tmp_path / "out")
    assert real.run_id == dry.run_id and real.contacts_added == 4
    for name in FILES:  # the same codes: the dry run took none from the pool
        assert sha(real.out_dir / name) == sha(dry.out_dir / name), name


def test_cli_says_nothing_was_recorded_and_refuses_both_flags(
        shop: Path, tmp_path: Path) -> None:
    config = str(shop / "campaign.yaml")
    out = str(tmp_path / "out")
    dry = CliRunner().invoke(main, ["build", config, "--out", out, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "NOTHING was recorded" in dry.stderr
    both = CliRunner().invoke(main, ["build", config, "--dry-run", "--rerender", "x"])
    assert both.exit_code == 2
    unknown = CliRunner().invoke(main, ["build", config, "--out", out, "--rerender", "nope"])
    assert unknown.exit_code == 1
    assert "no run nope" in unknown.stderr and "Traceback" not in unknown.output
