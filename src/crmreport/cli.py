"""The command line: one thin command per job, each a call into the library.

Exit codes: 0 success; 1 a data, configuration, rule or template error (the message says
where and how to fix it); 2 a usage error (wrong option or argument).
Data goes to stdout, messages to stderr; NO_COLOR is honoured.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from crmreport import __version__, progress
from crmreport.errors import CrmError
from crmreport.files import DEFAULT_WAIT
from crmreport.reasons import SUPPRESSED, label

if TYPE_CHECKING:
    from crmreport import pipeline
    from crmreport.config import LoadedCampaign
    from crmreport.config.models import Engine
    from crmreport.interact import Plan
    from crmreport.interact.explain import Explanation
    from crmreport.monitor.periods import PeriodKind

# Each command imports the stages it runs when it runs: `--help` and `schema` need none of
# pandas, DuckDB, scikit-learn or WeasyPrint (tests/test_startup.py).

F = TypeVar("F", bound=Callable[..., Any])


def _existing_file(ctx: click.Context, param: click.Parameter, value: Path | None
                   ) -> Path | None:
    """A file argument or option that must exist: a usage error (exit 2) naming it if not."""
    if value is not None and not value.is_file():
        what = "is a folder" if value.is_dir() else "does not exist"
        report = param.name in ("definition", "report_path")
        example = "reports/weekly.yaml" if report else "campaigns/demo.yaml"
        raise click.BadParameter(f"{value} {what}; give the path of a YAML file, e.g. "
                                 f"{example}", ctx, param)
    return value


CONFIG = click.argument("config", type=click.Path(path_type=Path), callback=_existing_file)
DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False),
                        help="Folder that relative data paths start from "
                             "(default: the campaign file's folder).")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def ENGINE(func: F) -> F:
    """--engine and --spark-master, on every command that reads data."""
    func = click.option("--spark-master", metavar="URL",
                        help="Spark master for --engine spark: local[2], spark://host:7077, "
                             "yarn, or a Spark Connect server sc://host:15002  [default: the "
                             "campaign's spark.master, else local[2]]")(func)
    return click.option("--engine", type=click.Choice(["duckdb", "spark"]), default=None,
                        help="Where the SQL runs  [default: the campaign's engine, "
                             "else duckdb]")(func)


def _load(config: Path, data_dir: Path | None, engine: Engine | None,
          spark_master: str | None) -> LoadedCampaign:
    """The campaign file with the command line's --engine and --spark-master applied."""
    from crmreport.config import load_campaign, with_engine

    return with_engine(load_campaign(config, data_dir), engine, spark_master)


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


class _StderrProgress:
    """Progress on stderr: on a terminal a bar (or the stage's name) while a stage runs; a
    summary line as each stage ends, on a terminal or not."""

    def __init__(self, live: bool):
        self.live = live
        self.bar: Any = None

    def start(self, name: str, total: int | None) -> None:
        if not self.live:
            return
        if total:
            self.bar = click.progressbar(length=total, label=name, file=sys.stderr)
            self.bar.__enter__()
        else:
            click.echo(f"{name} ...", err=True, nl=False)

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def finish(self, done: progress.Done) -> None:
        self.abandon()
        click.echo(done.summary(), err=True)

    def abandon(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        elif self.live:
            click.echo("\r\033[K", err=True, nl=False)  # clear the "name ..." line


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmreport")
@click.option("--quiet", is_flag=True,
              help="Show no progress of long stages (errors and warnings still show).")
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """crmreport: who your customers are, which offer each gets on which channel,
    the personalised emails and letters, and what the campaigns did.

    \b
    Start with:  crmreport demo
    Then:        crmreport plan campaigns/demo.yaml --data-dir out/demo/data
    """
    reporter = None if quiet else _StderrProgress(sys.stderr.isatty())
    ctx.with_resource(progress.reporting(reporter))


@main.command()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("out/demo"),
              show_default=True, help="Folder for the demo data and every output.")
@click.option("--campaign", type=click.Path(path_type=Path), callback=_existing_file,
              help="Campaign file  [default: the demo campaign installed with crmreport]")
@click.option("--report", "report_path", type=click.Path(path_type=Path),
              callback=_existing_file,
              help="Report definition  [default: the demo report installed with crmreport]")
@click.option("--customers", type=click.IntRange(100, 2_000_000), default=20_000,
              show_default=True, help="Size of the generated customer base.")
@ENGINE
@_handles_errors
def demo(out: Path, campaign: Path | None, report_path: Path | None, customers: int,
         engine: Engine | None, spark_master: str | None) -> None:
    """Generate demo data and run the example campaign and report over it.

    \b
    Example:  crmreport demo --out out/demo
    """
    from crmreport import pipeline

    start = time.perf_counter()
    _say(f"generating {customers:,} demo customers and running "
         f"{campaign or 'the demo campaign'} ...")
    result = pipeline.demo(out, campaign, report_path, customers, engine, spark_master)
    built = result.build
    _say(f"built {built.emails:,} emails and {built.letters:,} letters in {built.out_dir}", "green")
    for path in result.reports:
        _say(f"report: {path}", "green")
    _say(f"done in {time.perf_counter() - start:.1f} s")


@main.command()
@CONFIG
@DATA_DIR
@ENGINE
@AS_JSON
@click.option("--quarantine", type=click.Path(path_type=Path, dir_okay=False),
              help="Write every quarantined row, with its values and reason, to this CSV.")
@_handles_errors
def check(config: Path, data_dir: Path | None, engine: Engine | None, spark_master: str | None,
          as_json: bool, quarantine: Path | None) -> None:
    """Check a campaign: configuration, rules, and an account of every input row.

    \b
    Example:  crmreport check campaigns/demo.yaml --data-dir out/demo/data
    """
    from crmreport import pipeline

    result = pipeline.check(_load(config, data_dir, engine, spark_master), quarantine)
    if result.quarantined is not None:
        _say(f"{result.quarantined:,} quarantined rows written to {quarantine}", "yellow")
    for warning in result.warnings:
        _say(f"warning: {warning}", "yellow")
    if as_json:
        click.echo(json.dumps({**result.account.as_dict(), "warnings": result.warnings},
                              indent=2, sort_keys=True))
        result.account.require_balanced()
        return
    click.echo(f"{'file':<40} {'table':<12} {'rows':>9} {'loaded':>9} {'merged':>8} "
               f"{'quarant.':>8}")
    for f in result.account.files:
        click.echo(f"{Path(f.path).name:<40} {f.table:<12} {f.rows_in:>9,} "
                   f"{f.loaded:>9,} {f.merged:>8,} {f.quarantined:>8,}")
        for code, count in [*sorted(f.reasons.items()), *sorted(f.flags.items())]:
            click.echo(f"    {code}: {count:,}  ({label(code)})")
    result.account.require_balanced()
    warned = f", with {len(result.warnings)} warning(s) above" if result.warnings else ""
    _say(f"configuration, rules and templates are valid{warned}", "green")


@main.command()
@CONFIG
@DATA_DIR
@ENGINE
@AS_JSON
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Compare with the plan.json of the last build in OUT/<campaign>/ "
                   "(default: with the campaign's last run in the contact history).")
@_handles_errors
def plan(config: Path, data_dir: Path | None, engine: Engine | None, spark_master: str | None,
         as_json: bool, out: Path | None) -> None:
    """Show who would be contacted, step by step, and the change since the last run;
    writing nothing.

    \b
    Example:  crmreport plan campaigns/demo.yaml --data-dir out/demo/data --json
    """
    from crmreport import pipeline

    result = pipeline.plan(_load(config, data_dir, engine, spark_master), out)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    else:
        _print_plan(result)
    short = [f"{o}: {c.needed - c.available:,} codes short in {c.pool}"
             for o, c in result.coupons.items() if c.short]
    if short:
        _say("error: coupon pool too small, build would refuse: " + "; ".join(short), "red")


def _print_plan(result: Plan) -> None:
    click.echo(f"campaign {result.campaign} as of {result.as_of}: "
               f"{result.customers:,} customers")
    click.echo("segments: " + ", ".join(f"{k} {v:,}" for k, v in result.segments.items()))
    for step, count in result.steps:
        click.echo(f"  {step:<28} {count:>9,}")
    for reason, count in result.excluded.items():
        click.echo(f"  excluded {reason:<19} {count:>9,}  ({label(reason)})")
        if reason == SUPPRESSED:
            for code, n in result.suppression_reasons.items():
                click.echo(f"    {code:<25} {n:>9,}")
    for offer, channels in result.final.items():
        for channel, groups in channels.items():
            click.echo(f"  {offer} / {channel}: {groups.get('treatment', 0):,} to contact, "
                       f"{groups.get('control', 0):,} held out")
    for offer, variants in result.variants.items():
        if len(variants) > 1:
            click.echo(f"  {offer} variants: " + ", ".join(
                f"{v} {g.get('treatment', 0):,}+{g.get('control', 0):,}"
                for v, g in variants.items()))
    for offer, c in result.coupons.items():
        click.echo(f"  {offer} coupons: {c.assigned:,} of {c.available:,} unused codes in "
                   f"{c.pool}" + (f" ({c.short:,} SHORT)" if c.short else ""))
    diff = result.diff or {}
    if diff.get("against"):
        changes = diff["changes"]
        click.echo(f"change against {diff['against']} ({diff.get('as_of')}): "
                   + ("none" if not changes else ""))
        for key, d in changes.items():
            click.echo(f"  {key:<40} {d['before']:>9,} -> {d['now']:>9,} ({d['change']:+,})")
    else:
        click.echo("change against the last run: no earlier run of this campaign")


@main.command()
@CONFIG
@DATA_DIR
@ENGINE
@AS_JSON
@click.option("--customer", "customer_id", required=True,
              help="The customer id to explain (as in the customers file).")
@_handles_errors
def explain(config: Path, data_dir: Path | None, engine: Engine | None,
            spark_master: str | None, as_json: bool, customer_id: str) -> None:
    """Explain one customer: features, each rule's verdict, the offer and channel, or why
    they are excluded. Shows features only, never name, email or address.

    \b
    Example:  crmreport explain campaigns/demo.yaml --data-dir out/demo/data --customer C000042
    """
    from crmreport import pipeline

    result = pipeline.explain(_load(config, data_dir, engine, spark_master), customer_id)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True, default=str))
        return
    _print_explanation(result)


def _verdict(value: bool | None) -> str:
    return {True: "true", False: "false", None: "null"}[value]


def _print_explanation(r: Explanation) -> None:
    from crmreport.interact.explain import CONTACTED

    if r.identity:
        click.echo(r.identity)
    click.echo(f"customer {r.customer_id} in campaign {r.campaign} as of {r.as_of}")
    click.echo("features:")
    for key, value in r.features.items():
        click.echo(f"  {key:<24} {'NULL' if value is None else value}")
    click.echo("segments (first match wins):")
    for seg in r.segments:
        mark = "  <- segment" if seg.id == r.segment else ""
        click.echo(f"  {seg.id:<20} {_verdict(seg.verdict):<5}  {seg.when}{mark}")
    click.echo("offers:")
    for o in r.offers:
        where = "in segment" if o.in_segment else "not in its segments"
        mark = "  <- offer" if o.id == r.offer else ""
        click.echo(f"  {o.id:<20} {'eligible' if o.eligible else 'not eligible':<12} "
                   f"{where}; when {_verdict(o.verdict)}: {o.when}; priority "
                   f"{o.priority}, value {o.value}{mark}")
    d = r.decision
    for channel, c in (d.channels or {}).items():
        click.echo(f"  {channel:<8} {c.why}")
    if d.why_offer is not None:
        click.echo(f"offer: {d.why_offer}")
    if d.status in CONTACTED:
        click.echo(f"decision: {d.status} by {d.channel}, group {d.test_group}, "
                   f"variant {d.variant}"
                   + (f", coupon {d.coupon}" if d.coupon else "")
                   + (f", suggests {d.suggested_category}" if d.suggested_category else ""))
        click.echo(f"why: {d.reason}")
    else:
        click.echo(f"decision: {d.status}: {d.reason}")


@main.command()
@CONFIG
@DATA_DIR
@ENGINE
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("out"),
              show_default=True, help="Outputs go to OUT/<campaign>/.")
@click.option("--wait", type=click.FloatRange(0), default=DEFAULT_WAIT,
              show_default=True, metavar="SECONDS",
              help="How long to wait for another build that holds the contact history.")
@click.option("--dry-run", is_flag=True,
              help="Render everything into OUT/<campaign>.dry-run/; record nothing in the "
                   "contact history and use up no coupon code.")
@click.option("--rerender", "rerender_id", metavar="RUN_ID",
              help="Render recorded run RUN_ID again (same recipients, variants, coupons) "
                   "into OUT/<RUN_ID>.rerender/, e.g. after a template fix; records nothing.")
@_handles_errors
def build(config: Path, data_dir: Path | None, engine: Engine | None, spark_master: str | None,
          out: Path, wait: float, dry_run: bool, rerender_id: str | None) -> None:
    """Write the campaign: emails, letters, ESP and print CSVs, contacts, manifest.

    Builds sharing a contact history run one after the other: a second one waits.
    To look before sending, see `crmreport preview`, --dry-run and --rerender.

    \b
    Example:  crmreport build campaigns/demo.yaml --data-dir out/demo/data --out out
              crmreport build campaigns/demo.yaml --data-dir out/demo/data --dry-run
    """
    if dry_run and rerender_id:
        raise click.UsageError("--dry-run and --rerender cannot be combined: a rerender "
                               "records nothing anyway")
    from crmreport import pipeline

    loaded = _load(config, data_dir, engine, spark_master)
    if rerender_id:
        _rerender(loaded, out, rerender_id)
        return
    if dry_run:
        result = pipeline.dry_run(loaded, out)
    else:
        result = pipeline.build(loaded, out, wait=wait,
                                on_wait=lambda message: _say(message, "yellow"))
    for folder in result.unsent:
        _say(f"warning: {folder} is marked {pipeline.NOT_SENT}: an earlier build wrote it but "
             "did not record its contacts in the history; do NOT send it"
             + (" (rebuilt now)" if folder == result.out_dir and result.run_id else
                "; build its campaign again"), "yellow")
    if result.run_id is None:
        _say("no one new to contact: every eligible customer was already contacted or "
             "excluded; nothing written. To render a recorded run again after a template "
             "fix: --rerender RUN_ID (the run_id column of the contact history)", "yellow")
        return
    click.echo(str(result.out_dir))
    if dry_run:
        _say(f"dry run {result.run_id}: {result.emails:,} emails, {result.letters:,} letters "
             "rendered; NOTHING was recorded in the contact history and no coupon code was "
             "used up: do not send these, build without --dry-run to send", "yellow")
    else:
        _say(f"run {result.run_id}: {result.emails:,} emails, {result.letters:,} letters, "
             f"{result.contacts_added:,} contacts added to the history", "green")
    _warn_rendering(result)


def _rerender(loaded: LoadedCampaign, out: Path, run_id: str) -> None:
    from crmreport import pipeline

    result, again = pipeline.rerender(loaded, out, run_id)
    click.echo(str(result.out_dir))
    _say(f"run {run_id} rendered again: {result.emails:,} emails, {result.letters:,} letters "
         f"with the same recipients, variants and coupon codes; NOTHING was recorded (the "
         "history already holds this run)", "green")
    if again.withheld:
        reasons = ", ".join(f"{why} {n:,}" for why, n in sorted(again.withheld.items()))
        _say(f"warning: {sum(again.withheld.values()):,} recorded recipients withheld, as "
             f"they may no longer be contacted on their channel ({reasons})", "yellow")
    _warn_rendering(result)


def _warn_rendering(result: pipeline.BuildResult) -> None:
    if result.oversize:
        _say(f"warning: {len(result.oversize)} emails exceed the size limit and may be clipped",
             "yellow")
    if result.quarantined:
        _say(f"warning: {result.quarantined:,} recipients could not be rendered and were not "
             f"contacted; see {result.out_dir / 'not_rendered.csv'}", "yellow")


@main.command()
@CONFIG
@DATA_DIR
@ENGINE
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the proofs and index.html, replaced whole  "
                   "[default: out/<campaign>.preview]")
@click.option("--customer", "customer_id", help="Proof this customer only.")
@click.option("--redact", is_flag=True,
              help="Fictitious names, addresses, emails and ids, for proofs that leave the "
                   "company.")
@_handles_errors
def preview(config: Path, data_dir: Path | None, engine: Engine | None,
            spark_master: str | None, out: Path | None, customer_id: str | None,
            redact: bool) -> None:
    """Proof every combination the plan would send (segment x offer x channel x variant x
    locale) with one real recipient each, rendered as build renders it, and a contact
    sheet (index.html). Records nothing, uses up no coupon code (codes show XXXX-PREVIEW).

    \b
    Example:  crmreport preview campaigns/demo.yaml --data-dir out/demo/data --out out/preview
    """
    from crmreport import pipeline

    loaded = _load(config, data_dir, engine, spark_master)
    target = out or Path("out") / f"{loaded.config.campaign}.preview"
    result = pipeline.preview(loaded, target, customer_id, redact)
    click.echo(str(result.out_dir / "index.html"))
    customers = sum(p.recipients for p in result.proofs)
    _say(f"{len(result.proofs):,} proofs for {customers:,} customers to contact; nothing "
         "was recorded in the contact history", "green")
    if not result.proofs and result.last_run:
        _say(f"no one new to contact: run {result.last_run} is already in the contact "
             f"history; to see it with changed templates: crmreport build {config} "
             + (f"--data-dir {data_dir} " if data_dir else "")
             + f"--rerender {result.last_run}", "yellow")
    for proof in result.problems:
        _say(f"warning: proof {proof.segment}/{proof.offer}/{proof.channel}/{proof.variant}/"
             f"{proof.locale} not rendered: {proof.problem}", "yellow")


@main.command()
@CONFIG
@DATA_DIR
@ENGINE
@click.option("--definition", type=click.Path(path_type=Path),
              default=Path("reports/weekly.yaml"), show_default=True, callback=_existing_file,
              help="The report definition: sections, branding, language.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("out"),
              show_default=True, help="The report goes into OUT/<period>/, e.g. out/2026-W09/.")
@click.option("--period", type=click.Choice(["week", "month", "quarter"]), default=None,
              help="The executive summary's period: the last complete one before the as-of "
                   "date  [default: the definition's period, else week]")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Report as of this day (YYYY-MM-DD)  [default: the campaign's as_of]")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Also write the summary's figures and checks as JSON here.")
@click.option("--email", "email_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Also write the executive summary as a self-contained "
                                 "email (.eml) for any mail server.")
@_handles_errors
def report(config: Path, data_dir: Path | None, engine: Engine | None, spark_master: str | None,
           definition: Path, out: Path,
           period: PeriodKind | None, as_of: dt.datetime | None,
           json_path: Path | None, email_path: Path | None) -> None:
    """Render the monitoring report (report.html and report.pdf) for a period.

    Exits 1 after writing when a fail_on rule of the definition is broken, naming it.

    \b
    Example:  crmreport report campaigns/demo.yaml --data-dir out/demo/data --out reports
    """
    from crmreport import pipeline
    from crmreport.config import load_report

    result = pipeline.report_period(
        _load(config, data_dir, engine, spark_master), load_report(definition), out, period,
        as_of.date() if as_of else None, json_path, email_path)
    for path in result.paths:
        click.echo(str(path))
    for reason in result.failures:
        _say(f"fail_on: {reason}", "red")
    if result.failures:
        sys.exit(1)


@main.command("init")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--lang", type=click.Choice(["de", "en"]), default="de", show_default=True,
              help="Language of the templates and the report.")
@_handles_errors
def init_command(folder: Path, lang: str) -> None:
    """Start a project in FOLDER (new or empty): a commented campaign, email and letter
    templates with the legal footer, a report definition and sample data to try it on.

    \b
    Example:  crmreport init my-shop --lang en && crmreport check my-shop/campaign.yaml
    """
    from crmreport.init import init_project, is_empty_or_absent

    if not is_empty_or_absent(folder):
        raise click.UsageError(f"{folder} is not empty; init writes only into a new or "
                               "empty folder (choose another name, or empty it)")
    files = init_project(folder, lang)
    click.echo(str(folder))
    _say(f"{len(files)} files written. Next: crmreport check {folder / 'campaign.yaml'}, "
         f"then crmreport preview {folder / 'campaign.yaml'}", "green")


@main.command("schema")
@click.argument("kind", type=click.Choice(["campaign", "report", "summary"]),
                default="campaign")
def schema_command(kind: str) -> None:
    """Print a JSON Schema: of campaign files (default), of report definitions, or of the
    summary `report --json` writes.

    \b
    Example:  crmreport schema > campaign.schema.json
              crmreport schema report > report.schema.json
    """
    if kind == "summary":
        from crmreport.report.summary_json import summary_schema

        click.echo(summary_schema())
    else:
        from crmreport.config import report_schema, schema

        click.echo(schema() if kind == "campaign" else report_schema())


@main.command("clv")
@CONFIG
@DATA_DIR
@ENGINE
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("out/clv.csv"), show_default=True,
              help="CSV of per-customer predictions.")
@_handles_errors
def clv_command(config: Path, data_dir: Path | None, engine: Engine | None,
                spark_master: str | None, out: Path) -> None:
    """Fit BG/NBD and Gamma-Gamma; write each customer's P(alive) and 52-week CLV.

    Prints the fitted parameters, log-likelihood and customer equity as JSON.

    \b
    Example:  crmreport clv campaigns/demo.yaml --data-dir out/demo/data --out out/clv.csv
    """
    from crmreport import pipeline

    summary = pipeline.customer_value(_load(config, data_dir, engine, spark_master), out)
    click.echo(json.dumps(summary.as_dict(), indent=2, sort_keys=True))
    if summary.btyd_note:
        _say(f"note: {summary.btyd_note}", "yellow")
    _say(f"{summary.customers:,} customers written to {out}", "green")


@main.command()
def doctor() -> None:
    """Check this machine: the SQL engine, PDF fonts and rendering, the chart browser.

    \b
    Example:  crmreport doctor
    """
    from crmreport.doctor import run_checks

    checks = run_checks()
    for check in checks:
        click.echo(f"{'ok ' if check.ok else 'FAIL'} {check.name:<8} {check.detail}")
    if not all(c.ok for c in checks):
        _say("some checks failed: `make demo` or `make test` install what is missing", "red")
        sys.exit(1)


def run() -> None:
    """The console command (``crmreport``, ``python -m crmreport``): :func:`main`, then the
    process ends without the interpreter's teardown, which frees every object of a report's
    libraries one by one (0.4-0.5 s after a report) for memory the system frees anyway.
    Threads are joined and the other exit handlers run first, as on a normal exit; only
    in-process callers (tests) use ``main`` itself."""
    ending: list[int] = []
    atexit.register(_end_now, ending)  # registered first, so it runs after every other
    try:
        main()
    except SystemExit as done:  # click ends every command so
        ending.append(done.code if isinstance(done.code, int) else 0 if done.code is None else 1)
        if ending[0] and (worker := sys.modules.get("crmreport.model_worker")):
            worker.stop()  # an error or Ctrl+C: the exit does not wait for its imports or fits
        raise


def _end_now(ending: list[int]) -> None:
    if ending:  # not on an exception escaping main: its traceback is printed in the teardown
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed stream
                stream.flush()
        os._exit(ending[0])
