"""The jobs crmreport does, each wiring the stages in order: check, plan, build, report, demo.

The rendering stages (personalise, monitor, report) are imported where they are used: their
libraries (WeasyPrint, plotly) add about half a second to every start, which check and plan
do not need.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmreport.config import LoadedCampaign, Report, load_campaign, load_report
from crmreport.engine import Connection, connect
from crmreport.errors import CrmError, DataError
from crmreport.features import FEATURE_DOCS, ValueModel, build_features
from crmreport.features.value import ANNUAL_DISCOUNT, HORIZON_WEEKS
from crmreport.files import atomic_dir, write_safe_csv, write_text
from crmreport.identify import build_tables, write_quarantine
from crmreport.ingest import Account, SourceFile, load_sources
from crmreport.interact import (
    Plan,
    diff_counts,
    final_counts,
    history,
    plan_contacts,
    shortage_message,
)
from crmreport.interact.explain import explain_customer
from crmreport.rules import CompiledRules, assign, compile_rules
from crmreport.tables import CUSTOMERS

SECRET_VARIABLE = "CRMREPORT_SECRET"
# The demo's own key: its unsubscribe links point at shop.example and protect nothing.
DEMO_SECRET = "crmreport-demo-key-not-for-real-campaigns"


@dataclass
class Run:
    """One campaign evaluated as of its date: the engine holding every table, and the counts."""

    loaded: LoadedCampaign
    con: Connection
    account: Account
    plan: Plan
    value: ValueModel
    rules: CompiledRules


@dataclass
class BuildResult:
    run_id: str | None
    out_dir: Path
    plan: Plan
    emails: int = 0
    letters: int = 0
    contacts_added: int = 0
    oversize: list[str] = field(default_factory=list)


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
    staged = load_sources(con, sources(loaded))
    build_tables(con, staged, config.currency)
    account = staged.account
    value = build_features(con, config.as_of)
    columns = [r[0] for r in con.execute("DESCRIBE features").fetchall()]
    rules = compile_rules(loaded, columns)
    assign(con, rules)
    return Run(loaded, con, account, _plan(loaded, con), value, rules)


def _plan(loaded: LoadedCampaign, con: Connection) -> Plan:
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
    run.plan.diff = _diff(run, out_dir)
    return run.plan


def _diff(run: Run, out_dir: Path | None) -> dict[str, Any]:
    loaded, now = run.loaded, run.plan
    previous = out_dir / loaded.config.campaign / "plan.json" if out_dir else None
    if previous and previous.is_file():
        try:
            before = json.loads(previous.read_text(encoding="utf-8"))
            counts = _plan_counts(before)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DataError(f"{previous}: not a plan written by crmreport build; remove it "
                            "or point --out elsewhere") from None
        return {"against": str(previous), "as_of": before.get("as_of"),
                "changes": diff_counts(counts, now.counts())}
    last = _last_run(run.con, loaded.config.campaign)
    if last is None:
        return {"against": None, "changes": {}}
    run_id, contacted_at, final = last
    mine = {k: v for k, v in now.counts().items() if k.startswith("final.")}
    mine["to contact"] = now.treatment
    theirs = final_counts(final)
    theirs["to contact"] = sum(n for k, n in theirs.items() if k.endswith(".treatment"))
    return {"against": f"history run {run_id}", "as_of": contacted_at,
            "changes": diff_counts(theirs, mine)}


def _plan_counts(data: dict[str, Any]) -> dict[str, int]:
    """Plan.counts() of a plan.json."""
    old = Plan(campaign=data["campaign"], as_of=data["as_of"], customers=data["customers"],
               segments=data["segments"], offers=data["offers"],
               steps=[(s["step"], s["customers"]) for s in data["steps"]],
               excluded=data["excluded"],
               suppression_reasons=data.get("suppression_reasons", {}), final=data["final"])
    return old.counts()


Final = dict[str, dict[str, dict[str, int]]]  # offer -> channel -> group -> customers


def _last_run(con: Connection, campaign: str) -> tuple[str, str, Final] | None:
    """The last run of this campaign in the history: id, date, counts per offer/channel/group."""
    rows = con.execute("""
        WITH h AS (SELECT * FROM contacts WHERE campaign = ?),
        last AS (SELECT run_id, contacted_at FROM h ORDER BY contacted_at DESC, run_id DESC
                 LIMIT 1)
        SELECT run_id, contacted_at::VARCHAR, offer, channel, test_group, count(*)
        FROM h JOIN last USING (run_id, contacted_at) GROUP BY ALL ORDER BY ALL""",
                       [campaign]).fetchall()
    if not rows:
        return None
    final: Final = {}
    for _, _, offer, channel, group, count in rows:
        final.setdefault(offer, {}).setdefault(channel, {})[group] = count
    return rows[0][0], rows[0][1], final


def explain(loaded: LoadedCampaign, customer_id: str) -> dict[str, Any]:
    """Every verdict about one customer: features, segment rules, offers, channel, group."""
    run = prepare(loaded)
    return explain_customer(run.con, loaded.config, run.rules, customer_id)


def build(loaded: LoadedCampaign, out_dir: Path, secret: str | None = None) -> BuildResult:
    """Write the campaign's outputs under out_dir/<campaign>/, then append the contact history.

    The folder is filled beside the old one and swapped in whole; the history is appended
    after, atomically, and never twice for one run. A rerun with no one new writes nothing.
    ``secret`` keys the unsubscribe tokens (default: the CRMREPORT_SECRET environment
    variable); keep it private and the same from run to run.
    """
    if not loaded.config.data.contacts:
        raise DataError(f"{loaded.path}: build needs data.contacts, the contact history; "
                        "without it a rerun would contact everyone again (add "
                        "contacts: contacts.csv)")
    run = prepare(loaded)
    short = shortage_message(run.plan.coupons)
    if short:
        raise DataError(short)
    rows = _contact_rows(run.con)
    target = out_dir / loaded.config.campaign
    if not rows:
        return BuildResult(None, target, run.plan)
    run_id = _run_id(loaded, rows)
    result = BuildResult(run_id, target, run.plan)
    with atomic_dir(target) as tmp:
        hashes = _render(run, tmp, result, secret or os.environ.get(SECRET_VARIABLE, ""))
        contacts = [(run_id, loaded.config.campaign, cid, loaded.config.as_of.isoformat(),
                     channel, segment, offer, variant, group, hashes.get(cid, ""), coupon)
                    for cid, segment, offer, channel, variant, group, coupon in rows]
        write_safe_csv(tmp / "contacts.csv", history.COLUMNS, contacts)
        write_quarantine_file(run, tmp / "quarantine.csv")
        write_text(tmp / "plan.json", _json(run.plan.as_dict()))
        write_text(tmp / "manifest.json", _json(_manifest(loaded, run, result, tmp)))
    result.contacts_added = history.append(loaded.data_path(loaded.config.data.contacts),
                                            contacts)
    return result


def write_quarantine_file(run: Run, path: Path) -> int:
    """Every quarantined input row, with its values and reason, for the user to fix."""
    return write_quarantine(run.con, path, [Path(f.path).name for f in run.account.files])


def _contact_rows(con: Connection) -> list[tuple[str, ...]]:
    return [tuple(r) for r in con.execute(
        "SELECT customer_id, segment, offer, channel, variant, test_group, coupon "
        "FROM contact_plan WHERE excluded IS NULL ORDER BY customer_id").fetchall()]


def _run_id(loaded: LoadedCampaign, rows: Sequence[tuple[str, ...]]) -> str:
    digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:8]
    return f"{loaded.config.campaign}-{loaded.config.as_of:%Y%m%d}-{digest}"


def recipients(con: Connection, channel: str) -> Iterator[dict[str, Any]]:
    """Merge fields for each treated customer on ``channel``; missing values are left out."""
    features = ", ".join(f"a.{c}" for c in FEATURE_DOCS if c not in CUSTOMERS)
    cursor = con.execute(
        f"""SELECT c.*, p.segment, p.offer, p.variant, p.coupon, {features},
                  x.suggested_category
           FROM contact_plan p JOIN customers c USING (customer_id)
           JOIN assignments a USING (customer_id)
           LEFT JOIN suggestions x USING (customer_id)
           WHERE p.excluded IS NULL AND p.test_group = 'treatment' AND p.channel = ?
           ORDER BY customer_id""", [channel])
    names = [d[0] for d in cursor.description or []]
    while batch := cursor.fetchmany(2048):
        for row in batch:
            yield {k: v for k, v in zip(names, row, strict=True) if v is not None}


def _render(run: Run, out: Path, result: BuildResult, secret: str) -> dict[str, str]:
    """Emails and letters for the treatment group; returns customer_id -> content hash."""
    from crmreport.personalise import (
        EmailSettings,
        LetterSettings,
        build_emails,
        build_letters,
        make_environment,
    )

    config = run.loaded.config
    env = make_environment(run.loaded.template_dir)
    templates: dict[tuple[str, str], dict[str, str]] = {}
    for o in config.offers:
        variants = o.variants if o.variants is not None else config.variants
        templates[o.id, "A"] = {str(ch): name for ch, name in o.templates.items()}
        for v in variants:  # a variant's templates replace the offer's per channel
            templates[o.id, v.id] = {str(ch): name for ch, name in
                                     {**o.templates, **v.templates}.items()}
    common = {"campaign": config.campaign, "as_of": config.as_of, "currency": config.currency}
    hashes: dict[str, str] = {}
    sent_at = dt.datetime.combine(config.as_of, dt.time(8, 0), tzinfo=dt.UTC)
    email_cfg, letter_cfg = config.channels.email, config.channels.letter

    def with_template(channel: str) -> Iterator[dict[str, Any]]:
        for r in recipients(run.con, channel):
            yield {**common, **r, "template": templates[r["offer"], r["variant"]][channel]}

    if email_cfg:
        (out / "emails").mkdir()
        batch = build_emails(with_template("email"), env, EmailSettings(
            sender=email_cfg.sender, reply_to=email_cfg.reply_to,
            unsubscribe_url=email_cfg.unsubscribe_url,
            unsubscribe_mailto=email_cfg.unsubscribe_mailto, max_bytes=email_cfg.max_bytes,
            date=sent_at, secret=secret), out / "emails")
        result.emails, result.oversize = batch.count, batch.oversize
        hashes.update(batch.hashes)
        _write_esp(out / "esp.csv", batch.merge_rows)
    letters = list(with_template("letter")) if letter_cfg else []
    if letter_cfg and letters:
        lbatch = build_letters(letters, env, LetterSettings(
            layout=letter_cfg.layout, return_address=letter_cfg.return_address,
            date=config.as_of), out / "letters.pdf")
        result.letters = lbatch.count
        hashes.update(lbatch.hashes)
    _write_print(out / "print.csv", letters)
    return hashes


def _write_esp(path: Path, rows: list[dict[str, str]]) -> None:
    header = list(rows[0]) if rows else ["customer_id", "email"]
    write_safe_csv(path, header, ([r.get(h, "") for h in header] for r in rows))


PRINT_COLUMNS = ["customer_id", "salutation", "first_name", "last_name", "company", "street",
                 "postal_code", "city", "country", "offer", "variant", "coupon"]


def _write_print(path: Path, letters: list[dict[str, Any]]) -> None:
    ordered = sorted(letters, key=lambda r: (r.get("country", ""), r.get("postal_code", ""),
                                             r["customer_id"]))
    write_safe_csv(path, PRINT_COLUMNS, ([r.get(c, "") for c in PRINT_COLUMNS] for r in ordered))


def _manifest(loaded: LoadedCampaign, run: Run, result: BuildResult, out: Path) -> dict[str, Any]:
    files = {p.relative_to(out).as_posix(): _sha256(p) for p in sorted(out.rglob("*"))
             if p.is_file() and p.name != "manifest.json" and p.parent.name != "emails"}
    emails = sorted(out.glob("emails/*.eml"))
    combined = hashlib.sha256("".join(_sha256(p) for p in emails).encode()).hexdigest()
    return {
        "run_id": result.run_id, "campaign": loaded.config.campaign,
        "as_of": loaded.config.as_of.isoformat(),
        "counts": {"emails": result.emails, "letters": result.letters,
                   "contacts": run.plan.treatment, "oversize_emails": len(result.oversize)},
        "variants": run.plan.variants,
        "coupons": {o: {"pool": c.pool, "assigned": c.assigned}
                    for o, c in run.plan.coupons.items()},
        "config_sha256": _sha256(loaded.path),
        "inputs": {Path(f.path).name: _sha256(Path(f.path)) for f in run.account.files},
        "files": files, "emails": {"count": len(emails), "sha256": combined},
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _json(data: Any) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        raise TypeError(type(value).__name__)
    return json.dumps(data, indent=2, sort_keys=True, default=default) + "\n"


def report(loaded: LoadedCampaign, definition: Report, out_dir: Path) -> list[Path]:
    """The monitoring report over the contact history and orders, as HTML and PDF."""
    from crmreport.monitor import collect
    from crmreport.report import write_report

    run = prepare(loaded)
    config = loaded.config
    costs = {name: getattr(config.channels, name).cost
             for name in ("email", "letter") if getattr(config.channels, name)}
    monitoring = collect(run.con, config.as_of, config.response.window_days, costs,
                         run.account, definition.cohort_months, run.value)
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


CLV_COLUMNS = ["customer_id", "orders", "frequency", "recency_days", "tenure_days", "monetary",
               "p_alive", "churn_risk", "expected_orders_52w", "expected_spend", "clv_52w"]


def customer_value(loaded: LoadedCampaign, out: Path) -> dict[str, Any]:
    """Write per-customer value predictions to ``out`` (CSV); return the model summary.

    Raises CrmError with the reason when the models cannot be fitted on this data.
    """
    run = prepare(loaded)
    if not run.value.available:
        raise CrmError(f"customer value is unavailable: {run.value.reason}")
    rows = run.con.execute(f"SELECT {', '.join(CLV_COLUMNS)} FROM features "
                           "WHERE clv_52w IS NOT NULL ORDER BY customer_id").fetchall()
    write_safe_csv(out, CLV_COLUMNS, rows)
    equity = sum(r[-1] for r in rows)
    return {"as_of": loaded.config.as_of.isoformat(), "customers": len(rows),
            "repeat_buyers": run.value.repeat_buyers, "bgnbd": run.value.bgnbd,
            "gammagamma": run.value.gammagamma, "log_likelihood": run.value.log_likelihood,
            "customer_equity_52w": round(equity, 2), "time_unit": "week (7 days)",
            "horizon_weeks": HORIZON_WEEKS, "annual_discount": ANNUAL_DISCOUNT,
            "file": str(out)}
