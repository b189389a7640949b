"""The jobs crmreport does, each wiring the stages in order: check, plan, build, report, demo."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmreport.config import LoadedCampaign, Report, load_campaign, load_report
from crmreport.engine import Connection, connect
from crmreport.features import FEATURE_DOCS, build_features
from crmreport.files import atomic_dir, write_safe_csv, write_text
from crmreport.identify import build_tables
from crmreport.ingest import Account, SourceFile, load_sources
from crmreport.interact import Plan, history, plan_contacts
from crmreport.rules import assign, compile_rules
from crmreport.tables import CUSTOMERS


@dataclass
class Run:
    """One campaign evaluated as of its date: the engine holding every table, and the counts."""

    loaded: LoadedCampaign
    con: Connection
    account: Account
    plan: Plan


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
    account = load_sources(con, sources(loaded))
    build_tables(con, account, config.currency)
    build_features(con, config.as_of)
    columns = [r[0] for r in con.execute("DESCRIBE features").fetchall()]
    assign(con, compile_rules(loaded, columns))
    return Run(loaded, con, account, plan_contacts(con, config))


def feature_columns(run: Run) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in run.con.execute("DESCRIBE features").fetchall()]


def build(loaded: LoadedCampaign, out_dir: Path) -> BuildResult:
    """Write the campaign's outputs under out_dir/<campaign>/, then append the contact history.

    The folder is filled beside the old one and swapped in whole; the history is appended
    after, atomically, and never twice for one run. A rerun with no one new writes nothing.
    """
    run = prepare(loaded)
    rows = _contact_rows(run.con)
    target = out_dir / loaded.config.campaign
    if not rows:
        return BuildResult(None, target, run.plan)
    run_id = _run_id(loaded, rows)
    result = BuildResult(run_id, target, run.plan)
    with atomic_dir(target) as tmp:
        hashes = _render(run, tmp, result)
        contacts = [(run_id, loaded.config.campaign, cid, loaded.config.as_of.isoformat(),
                     channel, segment, offer, variant, group, hashes.get(cid, ""))
                    for cid, segment, offer, channel, variant, group in rows]
        write_safe_csv(tmp / "contacts.csv", history.COLUMNS, contacts)
        write_text(tmp / "plan.json", _json(run.plan.as_dict()))
        write_text(tmp / "manifest.json", _json(_manifest(loaded, run, result, tmp)))
    if loaded.config.data.contacts:
        result.contacts_added = history.append(loaded.data_path(loaded.config.data.contacts),
                                                contacts)
    return result


def _contact_rows(con: Connection) -> list[tuple[str, ...]]:
    return [tuple(r) for r in con.execute(
        "SELECT customer_id, segment, offer, channel, variant, test_group FROM contact_plan "
        "WHERE excluded IS NULL ORDER BY customer_id").fetchall()]


def _run_id(loaded: LoadedCampaign, rows: Sequence[tuple[str, ...]]) -> str:
    digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:8]
    return f"{loaded.config.campaign}-{loaded.config.as_of:%Y%m%d}-{digest}"


def recipients(con: Connection, channel: str) -> Iterator[dict[str, Any]]:
    """Merge fields for each treated customer on ``channel``; missing values are left out."""
    features = ", ".join(f"a.{c}" for c in FEATURE_DOCS if c not in CUSTOMERS)
    cursor = con.execute(
        f"""SELECT c.*, p.segment, p.offer, {features}
           FROM contact_plan p JOIN customers c USING (customer_id)
           JOIN assignments a USING (customer_id)
           WHERE p.excluded IS NULL AND p.test_group = 'treatment' AND p.channel = ?
           ORDER BY customer_id""", [channel])
    names = [d[0] for d in cursor.description or []]
    while batch := cursor.fetchmany(2048):
        for row in batch:
            yield {k: v for k, v in zip(names, row, strict=True) if v is not None}


def _render(run: Run, out: Path, result: BuildResult) -> dict[str, str]:
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
    templates = {o.id: {str(ch): name for ch, name in o.templates.items()} for o in config.offers}
    common = {"campaign": config.campaign, "as_of": config.as_of, "currency": config.currency}
    hashes: dict[str, str] = {}
    sent_at = dt.datetime.combine(config.as_of, dt.time(8, 0), tzinfo=dt.UTC)
    email_cfg, letter_cfg = config.channels.email, config.channels.letter

    def with_template(channel: str) -> Iterator[dict[str, Any]]:
        for r in recipients(run.con, channel):
            yield {**common, **r, "template": templates[r["offer"]][channel]}

    if email_cfg:
        (out / "emails").mkdir()
        batch = build_emails(with_template("email"), env, EmailSettings(
            sender=email_cfg.sender, reply_to=email_cfg.reply_to,
            unsubscribe_url=email_cfg.unsubscribe_url,
            unsubscribe_mailto=email_cfg.unsubscribe_mailto, max_bytes=email_cfg.max_bytes,
            date=sent_at, seed=config.policy.seed), out / "emails")
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
                 "postal_code", "city", "country", "offer"]


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
                         run.account, definition.cohort_months)
    return write_report(monitoring, definition, out_dir,
                        template_dir=loaded.template_dir / "report")


@dataclass
class DemoResult:
    data_dir: Path
    build: BuildResult
    reports: list[Path]


def demo(
    out_dir: Path, campaign_path: Path, report_path: Path, customers: int = 20_000
) -> DemoResult:
    """Generate the demo data, build the example campaign over it and report on it."""
    from crmreport.demo import generate

    data_dir = out_dir / "data"
    generate(data_dir, customers=customers)
    loaded = load_campaign(campaign_path, data_dir=data_dir)
    definition = load_report(report_path)
    built = build(loaded, out_dir)
    return DemoResult(data_dir, built, report(loaded, definition, out_dir))
