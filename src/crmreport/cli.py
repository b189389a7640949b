"""The command line: one thin command per job, each a call into the library.

Exit codes: 0 success; 1 a data, configuration, rule or template error (the message says
where and how to fix it); 2 a usage error (wrong option or argument).
Data goes to stdout, messages to stderr; NO_COLOR is honoured.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from crmreport import __version__, pipeline
from crmreport.config import load_campaign, load_report, schema
from crmreport.errors import CrmError
from crmreport.interact import Plan

F = TypeVar("F", bound=Callable[..., Any])

CONFIG = click.argument("config", type=click.Path(path_type=Path, dir_okay=False))
DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False),
                        help="Folder that relative data paths start from "
                             "(default: the campaign file's folder).")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def _say(message: str, colour: str | None = None) -> None:
    """A message for the person at the terminal, on stderr."""
    use_colour = colour and not os.environ.get("NO_COLOR") and sys.stderr.isatty()
    click.echo(click.style(message, fg=colour) if use_colour else message, err=True)


def _handles_errors(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CrmError as exc:
            _say(f"error: {exc}", "red")
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmreport")
def main() -> None:
    """crmreport: who your customers are, which offer each gets on which channel,
    the personalised emails and letters, and what the campaigns did.

    \b
    Start with:  crmreport demo
    Then:        crmreport plan campaigns/demo.yaml --data-dir out/demo/data
    """


@main.command()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("out/demo"),
              show_default=True, help="Folder for the demo data and every output.")
@click.option("--campaign", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("campaigns/demo.yaml"), show_default=True)
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("reports/weekly.yaml"), show_default=True)
@click.option("--customers", type=click.IntRange(100, 2_000_000), default=20_000,
              show_default=True, help="Size of the generated customer base.")
@_handles_errors
def demo(out: Path, campaign: Path, report_path: Path, customers: int) -> None:
    """Generate demo data and run the example campaign and report over it.

    \b
    Example:  crmreport demo --out out/demo
    """
    start = time.perf_counter()
    _say(f"generating {customers:,} demo customers and running {campaign} ...")
    result = pipeline.demo(out, campaign, report_path, customers)
    built = result.build
    _say(f"built {built.emails:,} emails and {built.letters:,} letters in {built.out_dir}", "green")
    for path in result.reports:
        _say(f"report: {path}", "green")
    _say(f"done in {time.perf_counter() - start:.1f} s")


@main.command()
@CONFIG
@DATA_DIR
@AS_JSON
@_handles_errors
def check(config: Path, data_dir: Path | None, as_json: bool) -> None:
    """Check a campaign: configuration, rules, and an account of every input row.

    \b
    Example:  crmreport check campaigns/demo.yaml --data-dir out/demo/data
    """
    run = pipeline.prepare(load_campaign(config, data_dir))
    account = run.account.as_dict()
    if as_json:
        click.echo(json.dumps(account, indent=2, sort_keys=True))
        return
    click.echo(f"{'file':<40} {'table':<12} {'rows':>9} {'loaded':>9} {'merged':>8} "
               f"{'quarant.':>8}")
    for f in account["files"]:
        click.echo(f"{Path(f['path']).name:<40} {f['table']:<12} {f['rows_in']:>9,} "
                   f"{f['loaded']:>9,} {f['merged']:>8,} {f['quarantined']:>8,}")
        for code, count in {**f["reasons"], **f["flags"]}.items():
            click.echo(f"    {code}: {count:,}")
    _say("configuration and rules are valid", "green")


@main.command()
@CONFIG
@DATA_DIR
@AS_JSON
@_handles_errors
def plan(config: Path, data_dir: Path | None, as_json: bool) -> None:
    """Show who would be contacted, step by step, writing nothing.

    \b
    Example:  crmreport plan campaigns/demo.yaml --data-dir out/demo/data --json
    """
    result = pipeline.prepare(load_campaign(config, data_dir)).plan
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    else:
        _print_plan(result)


def _print_plan(result: Plan) -> None:
    click.echo(f"campaign {result.campaign} as of {result.as_of}: "
               f"{result.customers:,} customers")
    click.echo("segments: " + ", ".join(f"{k} {v:,}" for k, v in result.segments.items()))
    for step, count in result.steps:
        click.echo(f"  {step:<28} {count:>9,}")
    for reason, count in result.excluded.items():
        click.echo(f"  excluded {reason:<19} {count:>9,}")
    for offer, channels in result.final.items():
        for channel, groups in channels.items():
            click.echo(f"  {offer} / {channel}: {groups.get('treatment', 0):,} to contact, "
                       f"{groups.get('control', 0):,} held out")


@main.command()
@CONFIG
@DATA_DIR
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("out"),
              show_default=True, help="Outputs go to OUT/<campaign>/.")
@_handles_errors
def build(config: Path, data_dir: Path | None, out: Path) -> None:
    """Write the campaign: emails, letters, ESP and print CSVs, contacts, manifest.

    \b
    Example:  crmreport build campaigns/demo.yaml --data-dir out/demo/data --out out
    """
    result = pipeline.build(load_campaign(config, data_dir), out)
    if result.run_id is None:
        _say("no one new to contact: every eligible customer was already contacted or "
             "excluded; nothing written", "yellow")
        return
    click.echo(str(result.out_dir))
    _say(f"run {result.run_id}: {result.emails:,} emails, {result.letters:,} letters, "
         f"{result.contacts_added:,} contacts added to the history", "green")
    if result.oversize:
        _say(f"warning: {len(result.oversize)} emails exceed the size limit and may be clipped",
             "yellow")


@main.command()
@CONFIG
@DATA_DIR
@click.option("--definition", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("reports/weekly.yaml"), show_default=True,
              help="The report definition: sections, branding, language.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("out"),
              show_default=True)
@_handles_errors
def report(config: Path, data_dir: Path | None, definition: Path, out: Path) -> None:
    """Render the monitoring report (report.html and report.pdf).

    \b
    Example:  crmreport report campaigns/demo.yaml --data-dir out/demo/data --out out/demo
    """
    paths = pipeline.report(load_campaign(config, data_dir), load_report(definition), out)
    for path in paths:
        click.echo(str(path))


@main.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of campaign files (for editor completion and checking)."""
    click.echo(schema())
