"""The jobs crmreport does, each wiring the stages in order: check, plan, explain, build,
report, clv and demo. ``prepare`` runs the stages up to the contact plan; ``outputs`` writes
a build's folder.

The rendering stages (monitor, report) are imported where they are used: their libraries
(WeasyPrint, plotly) add about half a second to every start, which check and plan do not need.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crmreport.account import Account
from crmreport.config import LoadedCampaign, Report, load_campaign, load_report
from crmreport.engine import Connection, connect
from crmreport.errors import CrmError, DataError
from crmreport.features import compute_features
from crmreport.features.value_models import ANNUAL_DISCOUNT, HORIZON_WEEKS
from crmreport.files import atomic_dir, remove_stale, write_safe_csv
from crmreport.identify import identify_tables
from crmreport.ingest import SourceFile, load_sources
from crmreport.interact import (
    Plan,
    Planned,
    diff_counts,
    final_counts,
    history,
    plan_contacts,
    shortage_message,
)
from crmreport.interact.explain import Explanation, explain_customer
from crmreport.outputs import write_outputs, write_quarantine_file
from crmreport.rules import assign, compile_rules
from crmreport.run import Run
from crmreport.tables import CONTACT_PLAN, FEATURES
from crmreport.testhook import checkpoint

SECRET_VARIABLE = "CRMREPORT_SECRET"
# The demo's own key: its unsubscribe links point at shop.example and protect nothing.
DEMO_SECRET = "crmreport-demo-key-not-for-real-campaigns"
DEFAULT_WAIT = 600.0  # seconds a build waits for another one that holds the history
# A file in a run's folder from before it is swapped in until its contacts are in the history:
# a build killed in between leaves it, and the next build reports the folder.
NOT_SENT = "NOT-SENT"


@dataclass(frozen=True)
class CheckResult:
    """The account of every input row, and how many rows went to the quarantine file."""

    account: Account
    quarantined: int | None = None  # None: no quarantine file was asked for


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


def prepare(loaded: LoadedCampaign) -> Run:
    """Identify, differentiate, customize and plan: everything up to writing."""
    config = loaded.config
    con = connect()
    rates = config.data.currency_rates
    identified = identify_tables(con, load_sources(con, sources(loaded)), config.currency,
                                 rates=loaded.data_path(rates) if rates else None,
                                 match=config.identity.match)
    featured = compute_features(con, config.as_of, config.churn.horizon_days,
                                config.value.model)
    rules = compile_rules(loaded, FEATURES.columns)
    assigned = assign(con, rules)
    return Run(loaded, con, rules, identified, featured, assigned, _plan(loaded, con))


def check(loaded: LoadedCampaign, quarantine: Path | None = None) -> CheckResult:
    """Configuration, rules and an account of every input row; the quarantined rows with their
    values go to ``quarantine`` when given."""
    run = prepare(loaded)
    if quarantine is None:
        return CheckResult(run.account)
    return CheckResult(run.account, write_quarantine_file(run, quarantine))


def _plan(loaded: LoadedCampaign, con: Connection) -> Planned:
    """The contact plan, with coupon pools resolved and the history's codes kept out."""
    config = loaded.config
    pools = {o.id: loaded.data_path(o.coupons.pool) for o in config.offers if o.coupons}
    used = (history.used_coupons(loaded.data_path(config.data.contacts))
            if pools and config.data.contacts else set())
    return plan_contacts(con, config, pools, used)


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


def explain(loaded: LoadedCampaign, customer_id: str) -> Explanation:
    """Every verdict about one customer: features, segment rules, offers, channel, group."""
    run = prepare(loaded)
    return explain_customer(run.con, loaded.config, run.rules, customer_id)


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
    contacts = loaded.data_path(loaded.config.data.contacts)
    with history.locked(contacts, wait, on_wait):
        history.check_writable(contacts)
        return _build_locked(loaded, out_dir, contacts,
                             secret or os.environ.get(SECRET_VARIABLE, ""))


def _build_locked(loaded: LoadedCampaign, out_dir: Path, contacts: Path,
                  secret: str) -> BuildResult:
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


def report(loaded: LoadedCampaign, definition: Report, out_dir: Path) -> list[Path]:
    """The monitoring report over the contact history and orders, as HTML and PDF."""
    from crmreport.monitor import collect
    from crmreport.report import write_report

    run = prepare(loaded)
    config = loaded.config
    costs = {name: getattr(config.channels, name).cost
             for name in ("email", "letter") if getattr(config.channels, name)}
    monitoring = collect(run.con, config.as_of, config.response.window_days, costs,
                         run.account, definition.cohort_months, run.value, run.featured.churn)
    own = loaded.template_dir / "report"  # a campaign may replace the bundled report templates
    return write_report(monitoring, definition, out_dir,
                        template_dir=own if own.is_dir() else None)


@dataclass
class DemoResult:
    data_dir: Path
    build: BuildResult
    reports: list[Path]


def demo(
    out_dir: Path, campaign_path: Path | None = None, report_path: Path | None = None,
    customers: int = 20_000,
) -> DemoResult:
    """Generate the demo data, build the example campaign over it and report on it.

    Without paths, the demo project installed with crmreport is used.
    """
    from crmreport.demo import generate, project_file

    campaign_path = campaign_path or project_file("campaigns", "demo.yaml")
    report_path = report_path or project_file("reports", "weekly.yaml")
    data_dir = out_dir / "data"
    generate(data_dir, customers=customers)
    loaded = load_campaign(campaign_path, data_dir=data_dir)
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
    horizon_weeks: int = HORIZON_WEEKS
    annual_discount: float = ANNUAL_DISCOUNT

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def customer_value(loaded: LoadedCampaign, out: Path) -> CustomerValue:
    """Write per-customer value predictions to ``out`` (CSV); return the model summary.

    Raises CrmError with the reason when the models cannot be fitted on this data.
    """
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
        model=value.model, holdout=asdict(value.verdict) if value.verdict else None)
