"""Progress of long stages: reported through the installed reporter, silent without one."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from crmreport import progress
from crmreport.cli import main


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def start(self, name: str, total: int | None) -> None:
        self.events.append(("start", (name, total)))

    def advance(self, count: int) -> None:
        self.events.append(("advance", count))

    def finish(self, done: progress.Done) -> None:
        self.events.append(("finish", (done.name, done.done)))

    def abandon(self) -> None:
        self.events.append(("abandon", None))


def test_a_stage_counts_its_items_through_the_reporter() -> None:
    recorder = Recorder()
    with progress.reporting(recorder), progress.stage("emails", 2, "emails") as tick:
        assert list(progress.counted(["a", "b"], tick)) == ["a", "b"]
    assert recorder.events == [("start", ("emails", 2)), ("advance", 1), ("advance", 1),
                               ("finish", ("emails", 2))]


def test_a_failing_stage_is_abandoned_not_summarised() -> None:
    recorder = Recorder()
    with pytest.raises(ValueError), progress.reporting(recorder), progress.stage("letters"):
        raise ValueError("broken")
    assert recorder.events == [("start", ("letters", None)), ("abandon", None)]


def test_without_a_reporter_nothing_is_reported() -> None:
    with progress.stage("features") as tick:
        tick(3)  # no reporter: nothing to fail or print


def test_summaries_say_what_and_how_long() -> None:
    emails = progress.Done("emails", 1460, "emails", 2.34)
    assert emails.summary() == "emails: 1,460 emails in 2.3 s"
    assert progress.Done("features", None, "", 0.44).summary() == "features: done in 0.4 s"


def test_a_command_prints_a_summary_line_per_stage_when_not_on_a_terminal(shop: Path) -> None:
    result = CliRunner().invoke(main, ["plan", str(shop / "campaign.yaml")])
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines if " in " in line and line.endswith(" s")] \
        == ["ingest", "identify", "features", "value models"]
    assert "ingest: 4 files in" in result.stderr


def test_quiet_silences_progress(shop: Path) -> None:
    result = CliRunner().invoke(main, ["--quiet", "plan", str(shop / "campaign.yaml")])
    assert result.exit_code == 0, result.stderr
    assert "ingest" not in result.stderr and "value models" not in result.stderr


def test_build_reports_the_emails_it_renders(shop: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["build", str(shop / "campaign.yaml"),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert "emails: 2 emails in" in result.stderr
