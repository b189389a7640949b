"""The jobs crmreport does, each wiring the stages in order: check, plan, explain, build,
preview, dry_run, rerender, report, clv and demo. ``prepare`` runs the stages up to the
contact plan; ``outputs`` writes a build's folder.

Only the stage that reads the input is imported with this module; the later ones, identify
included, are imported where they are used, after the files are read (scikit-learn, scipy
and pandas take over a second to import; WeasyPrint and plotly, for the report, half a
second more), so that `check` starts reading soon (bench/bench_startup.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import importlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from crmreport.account import Account
from crmreport.config import LoadedCampaign, Report, load_campaign, load_report, with_engine
from crmreport.config.models import UNASSIGNED, Campaign, Engine, Segment, SparkSettings
from crmreport.engine import Connection, connect, second_connection
from crmreport.errors import ConfigError, CrmError, DataError, Problem
from crmreport.files import (
    DEFAULT_WAIT,
    atomic_dir,
    remove_stale,
    safe_filename,
    write_safe_csv,
    write_text,
)
from crmreport.ingest import SourceFile, load_sources
from crmreport.progress import stage
from crmreport.tables import CONTACT_PLAN, FEATURES, ORDERS
from crmreport.testhook import checkpoint

if TYPE_CHECKING:
    from crmreport.interact import Plan, Planned
    from crmreport.interact.explain import Explanation
    from crmreport.monitor import Monitoring
    from crmreport.monitor.periods import PeriodKind, PeriodSummary
    from crmreport.proof import Preview, Rerender
    from crmreport.report.typeset import Typesetter
    from crmreport.run import Run

SECRET_VARIABLE = "CRMREPORT_SECRET"
# The demo's own key: its unsubscribe links point at shop.example and protect nothing.
DEMO_SECRET = "crmreport-demo-key-not-for-real-campaigns"
# A file in a run's folder from before it is swapped in until its contacts are in the history:
# a build killed in between leaves it, and the next build reports the folder.
NOT_SENT = "NOT-SENT"


@dataclass(frozen=True)
class CheckResult:
    """The account of every input row, how many rows went to the quarantine file, and what
    looks wrong without being an error (a rule's value the data lacks, a late as_of)."""

    account: Account
    quarantined: int | None = None  # None: no quarantine file was asked for
    warnings: list[str] = field(default_factory=list)


@dataclass
class BuildResult:
    run_id: str | None
    out_dir: Path
    plan: Plan
    emails: int = 0
    letters: int = 0
    contacts_added: int = 0
    oversize: list[str] = field(default_factory=list)
    quarantined: int = 0  # recipients set aside while rendering (see not_rendered.csv)
    # folders under --out marked NOT-SENT when this build began: never recorded, do not send
    unsent: list[Path] = field(default_factory=list)


def sources(loaded: LoadedCampaign) -> list[SourceFile]:
    """The campaign's input files; a contact history that does not exist yet is simply empty."""
    data = loaded.config.data
    files = [SourceFile("customers", loaded.data_path(data.customers.path), data.customers.mapping),
             SourceFile("orders", loaded.data_path(data.orders.path), data.orders.mapping)]
    if data.order_lines:
        files.append(SourceFile("order_lines", loaded.data_path(data.order_lines.path),
                                data.order_lines.mapping))
    files += [SourceFile("suppressions", loaded.data_path(s.path), s.mapping)
              for s in data.suppressions]
    if data.contacts and loaded.data_path(data.contacts).exists():
        files.append(SourceFile("contacts", loaded.data_path(data.contacts)))
    return files


def prepare(loaded: LoadedCampaign, forget_run: str | None = None, *,
            contact_plan: bool = True, preload: Sequence[str] = (),
            holdout_chart: bool = False, on_identified: Callable[[], None] | None = None) -> Run:
    """Identify, differentiate, customize and plan: everything up to writing.

    ``forget_run`` leaves that run out of the contact history the features and the plan see,
    as it was before that run (for rendering it again); the account still counts its rows.
    ``contact_plan=False`` stops after the segments and offers are assigned. ``preload``
    names modules to import in a thread while the files are read and identified and the
    features computed (DuckDB's queries release the GIL); the models' fits wait for
    ``FITS_NEED`` of them, the rest for all. ``holdout_chart``: the value model also makes
    the report's holdout chart (``ValueModel.by_frequency``). ``on_identified`` is called once
    the data is identified and ``preload`` imported (it may import modules of its own).
    The models are fitted in the model worker, started once the files are opened: it
    imports their libraries on the other core while the data is identified."""
    config = loaded.config
    con = open_engine(config)
    rates = config.data.currency_rates
    files = sources(loaded)
    importing = _Preloading(preload)
    with stage("ingest", unit="files") as tick:
        read = load_sources(con, files)
        tick(len(files))
    from crmreport import model_worker

    model_worker.start()
    from crmreport.identify import identify_tables  # after the read: see the module's doc

    with stage("identify"):
        identified = identify_tables(con, read, config.currency,
                                     rates=loaded.data_path(rates) if rates else None,
                                     match=config.identity.match)
    if on_identified:
        importing.wait()  # no module imported by two threads at once (see _Preloading)
        on_identified()
    if forget_run is not None:
        con.execute("DELETE FROM contacts WHERE run_id = ?", [forget_run])
    importing.wait("crmreport.features")
    from crmreport.features import compute_features

    # the features' queries run while the rest is imported; the models' fits wait for what
    # they need of it
    with model_worker.fitting_in_worker():
        featured = compute_features(con, config.as_of, config.churn.horizon_days,
                                    config.value.model,
                                    models_ready=functools.partial(importing.wait, FITS_NEED),
                                    holdout_chart=holdout_chart)
    importing.wait()
    from crmreport.rules import assign, compile_rules
    from crmreport.run import Run

    rules = compile_rules(loaded, FEATURES.columns)
    assigned = assign(con, rules)
    return Run(loaded, con, rules, identified, featured, assigned,
               _plan(loaded, con) if contact_plan else None)


def open_engine(config: Campaign) -> Connection:
    """The campaign's SQL engine: embedded DuckDB, or a Spark session at its master (what
    is missing for Spark is said before any data is read). A Spark engine opened within a
    job (``closes_engines``) is closed when the job ends."""
    if config.engine == "duckdb":
        return connect(kind="duckdb")
    from crmreport.spark_setup import require_spark

    spark = config.spark or SparkSettings()
    require_spark(spark.master)
    con = connect(kind="spark", master=spark.master, conf=dict(spark.conf or {}))
    opened = _OPENED.get()
    if opened is not None:
        opened.append(con)
    return con


# The Spark engines the running job opened. A session on a Spark Connect server keeps the
# run's tables (customer data) on the server until it is released, so a job closes its
# engines however it ends. DuckDB's in-memory database goes with its last reference.
_OPENED: ContextVar[list[Connection] | None] = ContextVar("opened_engines", default=None)
P = ParamSpec("P")
R = TypeVar("R")


def closes_engines(job: Callable[P, R]) -> Callable[P, R]:
    """``job`` closing, when it returns or fails, the Spark engines it opened."""
    @functools.wraps(job)
    def run_job(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _OPENED.set([])
        try:
            return job(*args, **kwargs)
        finally:
            for con in _OPENED.get() or []:
                con.close()
            _OPENED.reset(token)
    return run_job


@closes_engines
def check(loaded: LoadedCampaign, quarantine: Path | None = None) -> CheckResult:
    """Configuration, rules, templates and an account of every input row; the quarantined
    rows with their values go to ``quarantine`` when given.

    Every template the campaign names is rendered for a sample recipient in each locale
    (see proof/templates.py); any that fails is a ConfigError naming it."""
    run = prepare(loaded)  # first: these imports (scikit-learn, jinja2) wait for the data read
    from crmreport.outputs import write_quarantine_file
    from crmreport.proof import templates as template_proof
    from crmreport.rules.literals import empty_segments, unmatched

    failed = template_proof.prove(loaded, template_proof.locales_in(run.con, loaded.config.locale))
    if failed:
        raise ConfigError(failed)
    warnings = [str(w) for w in [*unmatched(run.con, run.rules),
                                 *empty_segments(run.con, loaded), *_late_as_of(run)]]
    written = None if quarantine is None else write_quarantine_file(run, quarantine)
    return CheckResult(run.account, written, warnings)


# An as_of this many days after the last order is suspect, unless the data's own longest
# gap between order days is longer (a shop that sells seasonally).
LATE_AS_OF_DAYS = 90


def _late_as_of(run: Run) -> list[Problem]:
    """A warning when as_of lies far beyond the data: every customer would look lapsed."""
    as_of = run.loaded.config.as_of
    last, gap = run.con.execute(f"""
        WITH days AS (SELECT DISTINCT order_date FROM {ORDERS} WHERE order_date < ?)
        SELECT max(order_date), max(gap) FROM (
            SELECT order_date,
                   date_diff('day', lag(order_date) OVER (ORDER BY order_date), order_date) AS gap
            FROM days)""", [as_of]).fetchone() or (None, None)
    if last is None:
        return []
    late, allowed = (as_of - last).days, max(LATE_AS_OF_DAYS, gap or 0)
    if late <= allowed:
        return []
    return [run.loaded.lines.problem(
        ("as_of",), f"as_of {as_of} is {late:,} days after the last order in the data "
        f"({last}), more than {allowed:,} days (the longer of {LATE_AS_OF_DAYS} days and the "
        "longest gap between order days): recency, churn and value are measured over days "
        "the data does not cover", "set as_of to the day after the export ends, or export "
        "the newer orders")]


def _plan(loaded: LoadedCampaign, con: Connection) -> Planned:
    """The contact plan, with coupon pools resolved and the history's codes kept out."""
    from crmreport.interact import history, plan_contacts

    config = loaded.config
    pools = {o.id: loaded.data_path(o.coupons.pool) for o in config.offers if o.coupons}
    used = (history.used_coupons(loaded.data_path(config.data.contacts))
            if pools and config.data.contacts else set())
    return plan_contacts(con, config, pools, used)


@closes_engines
def plan(loaded: LoadedCampaign, out_dir: Path | None = None) -> Plan:
    """The dry run: counts at every step and the difference against the last run.

    The baseline is the plan.json of the previous build in ``out_dir/<campaign>/`` when
    ``out_dir`` is given and holds one (every count compared); otherwise the last run of
    this campaign in the contact history (contacts per offer, channel and group).
    """
    run = prepare(loaded)
    run.account.require_balanced()  # counts over rows that went missing would mislead
    run.plan.diff = _diff(run, out_dir)
    return run.plan


def _diff(run: Run, out_dir: Path | None) -> dict[str, Any]:
    from crmreport.interact import Plan, diff_counts, final_counts, history

    loaded, now = run.loaded, run.plan
    previous = out_dir / loaded.config.campaign / "plan.json" if out_dir else None
    if previous and previous.is_file():
        try:
            before = json.loads(previous.read_text(encoding="utf-8"))
            counts = Plan.from_dict(before).counts()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DataError(f"{previous}: not a plan written by crmreport build; remove it "
                            "or point --out elsewhere") from None
        return {"against": str(previous), "as_of": before.get("as_of"),
                "changes": diff_counts(counts, now.counts())}
    last = history.last_run(run.con, loaded.config.campaign)
    if last is None:
        return {"against": None, "changes": {}}
    mine = {k: v for k, v in now.counts().items() if k.startswith("final.")}
    mine["to contact"] = now.treatment
    theirs = final_counts(last.final)
    theirs["to contact"] = sum(n for k, n in theirs.items() if k.endswith(".treatment"))
    return {"against": f"history run {last.run_id}", "as_of": last.contacted_at,
            "changes": diff_counts(theirs, mine)}


@closes_engines
def explain(loaded: LoadedCampaign, customer_id: str) -> Explanation:
    """Every verdict about one customer: features, segment rules, offers, channel, group."""
    from crmreport.interact.explain import explain_customer

    run = prepare(loaded)
    return explain_customer(run.con, loaded.config, run.rules, customer_id)


@closes_engines
def build(loaded: LoadedCampaign, out_dir: Path, secret: str | None = None,
          wait: float = DEFAULT_WAIT, on_wait: Callable[[str], None] | None = None
          ) -> BuildResult:
    """Write the campaign's outputs under out_dir/<campaign>/, then append the contact history.

    The history's lock is held from before the history is read until the append is done:
    another build sharing the history waits up to ``wait`` seconds (``on_wait`` is told
    why) and then plans against this one's contacts. The history is checked writable
    before anything is rendered. The folder is filled beside the old one and swapped in
    whole; the history is appended after, atomically, and never twice for one run; if that
    fails the folder is moved aside as <campaign>.NOT-SENT-<run id>. A rerun with no one new
    writes nothing. ``secret`` keys the unsubscribe tokens (default: the CRMREPORT_SECRET
    environment variable); keep it private and the same from run to run.
    """
    if not loaded.config.data.contacts:
        raise DataError(f"{loaded.path}: build needs data.contacts, the contact history; "
                        "without it a rerun would contact everyone again (add "
                        "contacts: contacts.csv)")
    secret = secret or os.environ.get(SECRET_VARIABLE, "")
    _require_secret(loaded, secret)
    from crmreport.interact import history

    contacts = loaded.data_path(loaded.config.data.contacts)
    with history.locked(contacts, wait, on_wait):
        history.check_writable(contacts)
        return _build_locked(loaded, out_dir, contacts, secret)


def _require_secret(loaded: LoadedCampaign, secret: str) -> None:
    """Emails need the unsubscribe key: without one, stop before any data is read."""
    from crmreport.personalise.email import MIN_SECRET

    if loaded.config.channels.email is None or len(secret.strip()) >= MIN_SECRET:
        return
    what = "is not set" if not secret.strip() else f"is shorter than {MIN_SECRET} characters"
    raise ConfigError([Problem("environment", None, SECRET_VARIABLE,
                               f"the unsubscribe secret {what}",
                               f"set {SECRET_VARIABLE} to a long random string and keep it "
                               "the same from run to run; it keys the unsubscribe links, so "
                               "nobody can unsubscribe someone else")])


def _build_locked(loaded: LoadedCampaign, out_dir: Path, contacts: Path,
                  secret: str) -> BuildResult:
    from crmreport.interact import history, shortage_message
    from crmreport.outputs import write_outputs

    run = prepare(loaded)
    run.account.require_balanced()  # never contact from data that lost rows on the way
    short = shortage_message(run.plan.coupons)
    if short:
        raise DataError(short)
    rows = _contact_rows(run.con)
    history.check_fields(contacts, rows, CONTACT_ROW)
    target = out_dir / loaded.config.campaign
    if out_dir.is_dir():  # a killed build's temporary folder, also when no one is new
        remove_stale(out_dir, f".{target.name}.")
    unsent = unsent_folders(out_dir, contacts)
    if not rows:
        return BuildResult(None, target, run.plan, unsent=unsent)
    run_id = _run_id(loaded, rows)
    with atomic_dir(target) as tmp:
        written = write_outputs(run, tmp, run_id, rows, secret)
        _mark_not_sent(tmp, run_id, contacts)  # after the manifest: not one of its files
        checkpoint("rendered")
    checkpoint("swapped")
    try:
        added = history.append(contacts, written.contacts)
    except (OSError, CrmError) as exc:
        raise _not_sent(target, run_id, contacts, exc) from None
    checkpoint("appended")
    (target / NOT_SENT).unlink()
    rendered = written.rendered
    return BuildResult(run_id, target, run.plan, rendered.emails, rendered.letters, added,
                       rendered.oversize, len(rendered.quarantined), unsent)


def _mark_not_sent(folder: Path, run_id: str, contacts: Path) -> None:
    """The NOT-SENT marker: the run's id first, then what it means."""
    (folder / NOT_SENT).write_text(
        f"{run_id}\nThe contacts of this run are not (yet) recorded in the contact history "
        f"{contacts}: do NOT send these outputs. A build that finishes removes this file; "
        "if it is still here, build again (the same run is rendered anew).\n",
        encoding="utf-8")


def unsent_folders(out_dir: Path, contacts: Path) -> list[Path]:
    """Folders under ``out_dir`` marked NOT-SENT whose run is not in the history at
    ``contacts``: a build ended between swapping them in and recording them. A marker whose
    run is recorded (the build ended just after the append) is removed. Call holding the
    history's lock."""
    from crmreport.interact import history

    if not out_dir.is_dir():
        return []
    marked = sorted(out_dir.glob(f"*/{NOT_SENT}"))
    recorded = history.recorded_runs(contacts) if marked else set()
    unsent = []
    for marker in marked:
        try:
            run_id = marker.read_text(encoding="utf-8").split("\n", 1)[0]
        except (OSError, UnicodeDecodeError):
            run_id = ""  # not a marker build wrote: report the folder
        if run_id in recorded:
            marker.unlink()
        else:
            unsent.append(marker.parent)
    return unsent


@closes_engines
def dry_run(loaded: LoadedCampaign, out_dir: Path, secret: str | None = None) -> BuildResult:
    """Render what build would into out_dir/<campaign>.dry-run/, recording nothing: the
    history is only read (no lock, nothing appended) and no coupon code is used up, since
    codes count as used only once they are in the history."""
    from crmreport.interact import shortage_message

    run = prepare(loaded)
    run.account.require_balanced()
    short = shortage_message(run.plan.coupons)
    if short:
        raise DataError(short)
    rows = _contact_rows(run.con)
    target = out_dir / f"{loaded.config.campaign}.dry-run"
    if not rows:
        return BuildResult(None, target, run.plan)
    run_id = _run_id(loaded, rows)
    return _unrecorded(run, target, run_id, rows, secret,
                       f"Dry run {run_id}: these contacts are NOT in the contact history and "
                       "their coupon codes may go to others. Do not send; build without "
                       "--dry-run to send.")


@closes_engines
def rerender(loaded: LoadedCampaign, out_dir: Path, run_id: str,
             secret: str | None = None) -> tuple[BuildResult, Rerender]:
    """Render recorded run ``run_id`` again into out_dir/<run id>.rerender/: the same
    recipients, variants and coupon codes from the contact history, with today's templates.
    Recipients who have lost their permission since are withheld; nothing is appended."""
    if not loaded.config.data.contacts:
        raise DataError(f"{loaded.path}: --rerender reads the run from data.contacts, the "
                        "contact history; the campaign names none")
    from crmreport.proof import rerender_plan

    run = prepare(loaded, forget_run=run_id)  # features as they were when it was built
    run.account.require_balanced()
    again = rerender_plan(run, loaded.data_path(loaded.config.data.contacts), run_id)
    target = out_dir / f"{safe_filename(run_id)}.rerender"
    note = (f"Run {run_id} rendered again with the templates of today; the contact history "
            "already holds this run (with the content hashes of its first rendering) and "
            "nothing was added to it.")
    return _unrecorded(run, target, run_id, again.rows, secret, note), again


def _unrecorded(run: Run, target: Path, run_id: str, rows: Sequence[tuple[str, ...]],
                secret: str | None, note: str) -> BuildResult:
    """A run's folder written like build's, without touching the contact history; ``note``
    (in NOT-RECORDED.txt) tells whoever opens it what it is."""
    from crmreport.outputs import write_outputs

    with atomic_dir(target) as tmp:
        rendered = write_outputs(run, tmp, run_id, rows,
                                 secret or os.environ.get(SECRET_VARIABLE, "")).rendered
        write_text(tmp / "NOT-RECORDED.txt", note + "\n")
    return BuildResult(run_id, target, run.plan, rendered.emails, rendered.letters, 0,
                       rendered.oversize, len(rendered.quarantined))


@closes_engines
def preview(loaded: LoadedCampaign, out_dir: Path, customer_id: str | None = None,
            redact: bool = False) -> Preview:
    """Proofs of every combination the plan would send (or of one customer) into out_dir,
    with a contact sheet; the history is only read and no coupon code is taken."""
    from crmreport.proof import write_proofs

    run = prepare(loaded)
    run.account.require_balanced()
    return write_proofs(run, out_dir, customer_id, redact)


def _not_sent(target: Path, run_id: str, contacts: Path, exc: Exception) -> DataError:
    """Move a run's outputs aside, unrecorded in the history; the error that says so."""
    aside = target.with_name(f"{target.name}.NOT-SENT-{run_id}")
    shutil.rmtree(aside, ignore_errors=True)  # an earlier failed attempt of the same run
    os.replace(target, aside)
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return DataError(f"the contact history {contacts} could not be written ({why}). The "
                     f"outputs of run {run_id} were moved to {aside}: do NOT send them: "
                     "they are not recorded in the history, so a later build would contact "
                     "these customers again. Fix the history, then build again (the same run "
                     "is rendered anew)")


CONTACT_ROW = ("customer_id", "segment", "offer", "channel", "variant", "test_group", "coupon")


def _contact_rows(con: Connection) -> list[tuple[str, ...]]:
    return [tuple(r) for r in con.execute(
        f"SELECT {', '.join(CONTACT_ROW)} "
        f"FROM {CONTACT_PLAN} WHERE excluded IS NULL ORDER BY customer_id").fetchall()]


def _run_id(loaded: LoadedCampaign, rows: Sequence[tuple[str, ...]]) -> str:
    digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:8]
    return f"{loaded.config.campaign}-{loaded.config.as_of:%Y%m%d}-{digest}"


def report(
    loaded: LoadedCampaign, definition: Report, out_dir: Path, period: PeriodKind | None = None,
    as_of: dt.date | None = None,
) -> list[Path]:
    """The monitoring report over the contact history and orders, as HTML and PDF.

    ``period`` (default: the definition's) sets the executive summary's period; ``as_of``
    (default: the campaign's) the day the report is made as of."""
    from crmreport.model_worker import fitting_in_worker
    from crmreport.report.browser import start_browser

    with fitting_in_worker(), _drawing_ready() as typesetter:  # the worker first: most to import
        return write_monitoring_report(
            monitor_report(loaded, definition, period, as_of, typesetter.start,
                           identified=start_browser),
            out_dir, typesetter=typesetter)


@contextmanager
def _drawing_ready() -> Iterator[Typesetter]:
    """What the report draws with: the chart browser (``start_browser`` it once the data is
    identified: its start, a few seconds of a core, would slow the read and identify down;
    the charts come seconds later) and the typesetter process
    (:meth:`~crmreport.report.typeset.Typesetter.start` it once the data is read)."""
    from crmreport.report.browser import browser
    from crmreport.report.typeset import Typesetter

    with Typesetter() as typesetter, browser(done_early=True, start=False):  # one drawing
        yield typesetter


# The last module the models' fits need in this process, preloaded or not: a holdout
# verdict (pandas with it) when they run in the model worker, which imports the rest.
FITS_NEED = "crmreport.clv.holdout"


class _Preloading:
    """``modules`` imported in a thread, in order, ahead of their use (a failure is left to
    that use to report). A module is waited for before it is used, and the caller meanwhile
    runs queries, which import nothing: no module is imported by two threads at once."""

    def __init__(self, modules: Sequence[str]) -> None:
        self._imported = {module: threading.Event() for module in modules}
        self._thread = threading.Thread(target=self._import, daemon=True)
        self._thread.start()

    def _import(self) -> None:
        for module, imported in self._imported.items():
            with suppress(Exception):  # a library that cannot load raises many kinds
                importlib.import_module(module)
            imported.set()

    def wait(self, module: str | None = None) -> None:
        """Until ``module`` is imported (when it is one of them), or all of them."""
        if module is None:
            self._thread.join()
        elif module in self._imported:
            self._imported[module].wait()


# What a report imports after the files are read: the features, the module the models'
# results come back in (their fits run in the model worker, which imports scikit-learn and
# scipy: crmreport.model_worker), the monitoring and the report's own.
REPORT_MODULES = ("crmreport.features", FITS_NEED, "crmreport.rules", "crmreport.monitor",
                  "crmreport.report.html", "crmreport.report.pdf", "crmreport.report.email",
                  "crmreport.report.summary_json")


@dataclass(frozen=True)
class ReportInputs:
    """What a report is written from: the monitoring, its period summary, the definition."""

    loaded: LoadedCampaign
    definition: Report
    monitoring: Monitoring
    summary: PeriodSummary


@closes_engines
def monitor_report(
    loaded: LoadedCampaign, definition: Report, period: PeriodKind | None = None,
    as_of: dt.date | None = None, data_read: Callable[[], None] | None = None,
    identified: Callable[[], None] | None = None,
) -> ReportInputs:
    """Prepare the run and compute everything the report shows (aggregates only);
    ``identified`` is called once the data is identified, ``data_read`` once the run is
    prepared."""
    if "currency" not in definition.model_fields_set:  # money in the campaign's currency
        definition = definition.model_copy(update={"currency": loaded.config.currency})
    if as_of is not None and as_of != loaded.config.as_of:
        loaded = dataclasses.replace(loaded, config=loaded.config.model_copy(
            update={"as_of": as_of}))
    from crmreport.model_worker import fitting_in_worker

    with fitting_in_worker():  # it imports the models' libraries while the data is read
        return _monitor(loaded, definition, period, data_read, identified)


def _monitor(loaded: LoadedCampaign, definition: Report, period: PeriodKind | None,
             data_read: Callable[[], None] | None,
             identified: Callable[[], None] | None) -> ReportInputs:
    run = prepare(loaded, contact_plan=False,  # the report shows no plan
                  preload=REPORT_MODULES, holdout_chart=True, on_identified=identified)
    if data_read:
        data_read()
    from crmreport.monitor import collect  # after prepare, which imports it while reading
    from crmreport.monitor.periods import period_summary
    from crmreport.monitor.retention import MIGRATION_DAYS
    from crmreport.report.html import compile_templates

    # the page's templates compiled while the monitoring's queries run (they free the GIL)
    compiling = threading.Thread(target=compile_templates, args=(_report_templates(loaded),),
                                 name="templates", daemon=True)
    compiling.start()
    config = loaded.config
    costs = {name: getattr(config.channels, name).cost
             for name in ("email", "letter") if getattr(config.channels, name)}
    previous = config.as_of - dt.timedelta(days=MIGRATION_DAYS)
    migration = previous_segments(run, previous)
    summarising, stop = _beside(run.con, functools.partial(
        period_summary, kind=period or definition.period, as_of=config.as_of,
        window_days=config.response.window_days, costs=costs))
    try:
        monitoring = collect(run.con, config.as_of, config.response.window_days, costs,
                             _relative(run.account, loaded), definition.cohort_months,
                             run.value, run.featured.churn, config.response.margin,
                             config.response.pre_days, previous if migration else None)
    except BaseException:
        stop()  # its result is not wanted
        raise
    finally:
        futures.wait([summarising])  # its queries end before the engine may be closed
        compiling.join()
    summary = dataclasses.replace(summarising.result(), equity=monitoring.value.equity)
    return ReportInputs(loaded, definition, monitoring, summary)


def _beside(con: Connection, work: Callable[[Connection], R]) -> tuple[Future[R],
                                                                        Callable[[], None]]:
    """``work`` done in a thread on a second connection to ``con``'s database, while the
    caller goes on with ``con``: the queries of both run at once (DuckDB releases the GIL).
    Also what stops it (interrupts its query). Where the engine has no second connection,
    done here on ``con``."""
    from crmreport.features.net_orders import define_macros

    done: Future[R] = Future()
    other = second_connection(con)
    if other is None:
        _settle(done, functools.partial(work, con))
        return done, lambda: None

    def there() -> R:
        define_macros(other)  # a connection's own
        return work(other)

    def run() -> None:
        try:
            _settle(done, there)
        finally:
            other.close()

    def stop() -> None:
        with suppress(Exception):  # closed: the work is done already
            other.interrupt()  # type: ignore[attr-defined]

    threading.Thread(target=run, name="beside", daemon=True).start()
    return done, stop


def _settle(done: Future[R], work: Callable[[], R]) -> None:
    try:
        done.set_result(work())
    except BaseException as exc:  # given to the caller, who raises it
        done.set_exception(exc)


def _relative(account: Account, loaded: LoadedCampaign) -> Account:
    """The account with file paths as the campaign file names them (relative to the data
    folder), else relative to the campaign file, else the bare name: no server paths."""

    def shown(path: str) -> str:
        full = Path(path).resolve()
        for start in (loaded.data_dir.resolve(), loaded.path.parent.resolve()):
            if full.is_relative_to(start):
                return full.relative_to(start).as_posix()
        return full.name

    return Account(files=[dataclasses.replace(f, path=shown(f.path)) for f in account.files])


def write_monitoring_report(inputs: ReportInputs, out_dir: Path, email: Path | None = None,
                            typesetter: Typesetter | None = None,
                            meanwhile: Callable[[], object] | None = None) -> list[Path]:
    from crmreport.report import write_report

    config = inputs.loaded.config
    named: list[tuple[str, dict[Any, str]]] = [*config.labels.items(),
                                              (config.campaign, config.label)]
    named += [(s.id, s.label) for s in config.segments]
    named += [(o.id, o.label) for o in config.offers]
    labels = {ident: {str(lang): text for lang, text in label.items()}
              for ident, label in named if label}  # an id without a label keeps an earlier one
    return write_report(inputs.monitoring, inputs.definition, out_dir,
                        template_dir=_report_templates(inputs.loaded), summary=inputs.summary,
                        labels=labels, email=email, typesetter=typesetter,
                        meanwhile=meanwhile)


def _report_templates(loaded: LoadedCampaign) -> Path | None:
    """The campaign's own report templates, if it has them; None: the bundled ones."""
    own = loaded.template_dir / "report"
    return own if own.is_dir() else None


@dataclass(frozen=True)
class PeriodReport:
    """What ``report`` wrote for one period, and the ``fail_on`` rules it broke."""

    period: str
    paths: list[Path]
    failures: list[str]


def report_period(
    loaded: LoadedCampaign, definition: Report, out_root: Path,
    period: PeriodKind | None = None, as_of: dt.date | None = None,
    json_path: Path | None = None, email_path: Path | None = None,
) -> PeriodReport:
    """The report into ``out_root/<period>/`` (2026-W09, 2026-03, 2026-Q1): a rerun of the
    same period replaces the folder in one step. ``json_path`` gets the summary as JSON,
    ``email_path`` the executive summary as a self-contained .eml."""
    from crmreport.model_worker import fitting_in_worker
    from crmreport.report.browser import start_browser

    json_text: list[str] = []
    with fitting_in_worker(), _drawing_ready() as typesetter:  # the worker first: most to import
        inputs = monitor_report(loaded, definition, period, as_of, typesetter.start,
                                identified=start_browser)
        slug = inputs.summary.current.period.slug
        folder = out_root / slug

        def make_json() -> None:  # once the page is sent: the PDF's layout needs none of it
            from crmreport.report.summary_json import summary_json

            json_text.append(summary_json(inputs.monitoring, inputs.summary, definition))

        with atomic_dir(folder) as tmp:
            written = write_monitoring_report(inputs, tmp, email_path, typesetter,
                                              make_json if json_path is not None else None)

    from crmreport.report.summary_json import checks

    paths = [p if p == email_path else folder / p.name for p in written]
    if json_path is not None:  # written after the report's folder, as before
        write_text(json_path, json_text[0])
        paths.append(json_path)
    failed = checks(inputs.summary, inputs.monitoring.account, definition)
    return PeriodReport(slug, paths, [c.reason or c.rule for c in failed if c.failed])


def previous_segments(run: Run, day: dt.date) -> bool:
    """Create ``previous_segments`` (customer_id, segment): the campaign's own segment rules
    over features computed as of ``day``, as if the run had been made then: only the RFM
    columns when the rules read no others (the usual case), else all the features, the
    current ones set aside and put back meanwhile. False when they cannot be computed."""
    import duckdb

    from crmreport.features import MODEL_COLUMNS, RFM_COLUMNS, compute_features
    from crmreport.features.rfm import CATEGORY_SPEND, RFM, compute_rfm
    from crmreport.monitor.retention import PREVIOUS_SEGMENTS
    from crmreport.rules import compile_rules

    con, config = run.con, run.loaded.config
    read = _segment_columns(config.segments)
    rfm_only = read <= RFM_COLUMNS  # the rfm table has these as features does, row for row
    if not rfm_only:
        con.execute(f"ALTER TABLE {FEATURES} RENAME TO features_current")
    try:
        if rfm_only:
            compute_rfm(con, day)  # net_orders, which it reads, does not depend on the day
        else:
            compute_features(con, day, config.churn.horizon_days, config.value.model,
                             fit_models=bool(read & MODEL_COLUMNS))
        then = dataclasses.replace(run.loaded, config=config.model_copy(update={"as_of": day}))
        rules = compile_rules(then, FEATURES.columns)
        whens = " ".join(f"WHEN {sql} THEN '{sid}'" for sid, sql in rules.segments)
        con.execute(f"""CREATE OR REPLACE TABLE {PREVIOUS_SEGMENTS} AS
            SELECT customer_id, coalesce(CASE {whens} END, '{UNASSIGNED}') AS segment
            FROM {RFM if rfm_only else FEATURES}""")
        return True
    except (CrmError, duckdb.Error, ValueError, ArithmeticError):
        return False  # the migration is left out; the report goes on
    finally:
        if rfm_only:
            con.execute(f"DROP TABLE IF EXISTS {RFM}")
            con.execute(f"DROP TABLE IF EXISTS {CATEGORY_SPEND}")
        else:
            con.execute(f"DROP TABLE IF EXISTS {FEATURES}")
            con.execute(f"ALTER TABLE features_current RENAME TO {FEATURES}")


def _segment_columns(segments: Sequence[Segment]) -> frozenset[str]:
    """The columns the segment rules read, lower case (DuckDB ignores the case)."""
    import sqlglot
    from sqlglot import exp

    return frozenset(column.name.lower() for s in segments
                     for column in sqlglot.parse_one(s.when, read="duckdb").find_all(exp.Column))


@dataclass
class DemoResult:
    data_dir: Path
    build: BuildResult
    reports: list[Path]


def demo(
    out_dir: Path, campaign_path: Path | None = None, report_path: Path | None = None,
    customers: int = 20_000, engine: Engine | None = None, master: str | None = None,
) -> DemoResult:
    """Generate the demo data, build the example campaign over it and report on it.

    Without paths, the demo project installed with crmreport is used; ``engine`` and
    ``master`` replace the campaign's own (see config.with_engine).
    """
    from crmreport.demo import generate, project_file

    campaign_path = campaign_path or project_file("campaigns", "demo.yaml")
    report_path = report_path or project_file("reports", "weekly.yaml")
    data_dir = out_dir / "data"
    generate(data_dir, customers=customers)
    loaded = with_engine(load_campaign(campaign_path, data_dir=data_dir), engine, master)
    definition = load_report(report_path)
    built = build(loaded, out_dir, os.environ.get(SECRET_VARIABLE) or DEMO_SECRET)
    return DemoResult(data_dir, built, report(loaded, definition, out_dir))


CLV_COLUMNS = ["customer_id", "orders", "repeat_orders", "repeat_purchase_days", "recency_days",
               "tenure_days", "monetary", "days_overdue", "p_alive", "churn_risk",
               "expected_orders_52w", "expected_spend", "clv_52w"]


@dataclass(frozen=True)
class CustomerValue:
    """What ``clv`` wrote: the fitted models' parameters and the customers' total value;
    ``churn`` is the churn model's check (AUC, precision in the top decile, Brier score,
    reliability) and risk bands, ``btyd_note`` says in words when BG/NBD sees no dropout."""

    as_of: str
    customers: int
    repeat_buyers: int
    bgnbd: dict[str, float]
    gammagamma: dict[str, float]
    log_likelihood: float | None
    customer_equity_52w: float
    file: str
    churn: dict[str, Any] = field(default_factory=dict)
    btyd_note: str | None = None
    model: str = "bgnbd"  # the purchase model (its parameters are under "bgnbd")
    holdout: dict[str, Any] | None = None  # the model's holdout verdict (HoldoutVerdict)
    time_unit: str = "week (7 days)"
    # keyword-only, given by customer_value: their module imports the models (scipy, pandas)
    horizon_weeks: int = field(kw_only=True)
    annual_discount: float = field(kw_only=True)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@closes_engines
def customer_value(loaded: LoadedCampaign, out: Path) -> CustomerValue:
    """Write per-customer value predictions to ``out`` (CSV); return the model summary.

    Raises CrmError with the reason when the models cannot be fitted on this data.
    """
    from crmreport.features.value_models import ANNUAL_DISCOUNT, HORIZON_WEEKS

    run = prepare(loaded)
    if not run.value.available:
        raise CrmError(f"customer value is unavailable: {run.value.reason}")
    rows = run.con.execute(f"SELECT {', '.join(CLV_COLUMNS)} FROM {FEATURES} "
                           "WHERE clv_52w IS NOT NULL ORDER BY customer_id").fetchall()
    write_safe_csv(out, CLV_COLUMNS, rows)
    value = run.value
    return CustomerValue(
        as_of=loaded.config.as_of.isoformat(), customers=len(rows),
        repeat_buyers=value.repeat_buyers, bgnbd=value.bgnbd, gammagamma=value.gammagamma,
        log_likelihood=value.log_likelihood,
        customer_equity_52w=round(sum(r[-1] for r in rows), 2), file=str(out),
        churn=run.featured.churn.as_dict(), btyd_note=run.featured.churn.btyd_note,
        model=value.model, holdout=asdict(value.verdict) if value.verdict else None,
        horizon_weeks=HORIZON_WEEKS, annual_discount=ANNUAL_DISCOUNT)
