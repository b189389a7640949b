"""Writing a campaign run's folder: emails, letters, ESP and print CSVs, this run's contacts,
the quarantine file, plan.json and a manifest with every file's hash.

Personalise is imported where it is used: its libraries (WeasyPrint) add about half a
second to the start of every command, which check and plan do not need.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmreport import reasons
from crmreport.engine import Connection
from crmreport.features import FEATURE_DOCS
from crmreport.files import write_safe_csv, write_text
from crmreport.identify import write_quarantine
from crmreport.interact import history
from crmreport.progress import stage
from crmreport.run import Run
from crmreport.tables import ASSIGNMENTS, CONTACT_PLAN, CUSTOMERS, SUGGESTIONS


@dataclass
class Rendered:
    """What rendering wrote: counts, oversize emails, customer_id -> content hash."""

    emails: int = 0
    letters: int = 0
    oversize: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    # customer_id -> (channel, reason code, detail): set aside, so not contacted nor in the
    # history; the detail names template and line, never a customer's value
    quarantined: dict[str, tuple[str, str, str]] = field(default_factory=dict)


@dataclass
class Written:
    """A run's folder: what was rendered and the run's rows for the contact history."""

    rendered: Rendered
    contacts: list[tuple[str, ...]]


def write_outputs(run: Run, out: Path, run_id: str, planned: Sequence[tuple[str, ...]],
                  secret: str) -> Written:
    """Fill ``out`` (an empty folder): rendered content first, then the files describing it.

    ``planned`` holds (customer_id, segment, offer, channel, variant, test_group, coupon) of
    every customer the run contacts or holds out.
    """
    rendered = _render(run, out, secret)
    config = run.loaded.config
    day = config.as_of.isoformat()
    contacts: list[tuple[str, ...]] = [
        (run_id, config.campaign, cid, day, channel, segment, offer, variant, group,
         rendered.hashes.get(cid, ""), coupon)
        for cid, segment, offer, channel, variant, group, coupon in planned
        if cid not in rendered.quarantined]
    write_safe_csv(out / "contacts.csv", history.COLUMNS, contacts)
    _write_not_rendered(out / "not_rendered.csv", rendered.quarantined)
    write_quarantine_file(run, out / "quarantine.csv")
    write_text(out / "plan.json", json_text(run.plan.as_dict()))
    treated = sum(1 for row in contacts if row[8] == "treatment")
    write_text(out / "manifest.json",
               json_text(_manifest(run, run_id, rendered, treated, out)))
    return Written(rendered, contacts)


def _write_not_rendered(path: Path, quarantined: dict[str, tuple[str, str, str]]) -> None:
    """The recipients rendering set aside: ids and reasons only, no personal values."""
    rows = ([cid, channel, code, reasons.label(code), detail, reasons.reason(code).fix]
            for cid, (channel, code, detail) in sorted(quarantined.items()))
    write_safe_csv(path, ["customer_id", "channel", "reason", "meaning", "detail",
                          "how to fix"], rows)


def write_quarantine_file(run: Run, path: Path) -> int:
    """Every quarantined input row, with its values and reason, for the user to fix."""
    return write_quarantine(run.con, path, [Path(f.path).name for f in run.account.files])


def recipients(con: Connection, channel: str) -> Iterator[dict[str, Any]]:
    """Merge fields for each treated customer on ``channel``; missing values are left out."""
    features = ", ".join(f"a.{c}" for c in FEATURE_DOCS if c not in CUSTOMERS.columns)
    cursor = con.execute(
        f"""SELECT c.*, p.segment, p.offer, p.variant, p.coupon, {features},
                  x.suggested_category
           FROM {CONTACT_PLAN} p JOIN customers c USING (customer_id)
           JOIN {ASSIGNMENTS} a USING (customer_id)
           LEFT JOIN {SUGGESTIONS} x USING (customer_id)
           WHERE p.excluded IS NULL AND p.test_group = 'treatment' AND p.channel = ?
           ORDER BY customer_id""", [channel])
    names = [d[0] for d in cursor.description or []]
    while batch := cursor.fetchmany(2048):
        for row in batch:
            yield {k: v for k, v in zip(names, row, strict=True) if v is not None}


def render_content(run: Run, out: Path, secret: str) -> Rendered:
    """Emails, letters, ESP and print files of the plan's treated customers, as a build
    renders them, into the empty folder ``out``: what preview proofs are made with."""
    return _render(run, out, secret)


def _render(run: Run, out: Path, secret: str) -> Rendered:
    """Emails and letters for the treatment group, the ESP and print files."""
    from crmreport.personalise import (
        EmailSettings,
        LetterSettings,
        make_environment,
        render_emails,
        render_letters,
    )
    from crmreport.personalise.legal import merge_fields

    config = run.loaded.config
    env = make_environment(run.loaded.template_dir, config.locale)
    templates: dict[tuple[str, str], dict[str, str]] = {}
    for o in config.offers:
        variants = o.variants if o.variants is not None else config.variants
        templates[o.id, "A"] = {str(ch): name for ch, name in o.templates.items()}
        for v in variants:  # a variant's templates replace the offer's per channel
            templates[o.id, v.id] = {str(ch): name for ch, name in
                                     {**o.templates, **v.templates}.items()}
    common = {"campaign": config.campaign, "as_of": config.as_of, "currency": config.currency}
    valid_until = {o.id: config.as_of + dt.timedelta(days=o.coupons.valid_days)
                   for o in config.offers if o.coupons and o.coupons.valid_days}
    legal = functools.lru_cache(maxsize=None)(
        lambda locale: merge_fields(config.sender, locale))
    rendered = Rendered()
    sent_at = dt.datetime.combine(config.as_of, dt.time(8, 0), tzinfo=dt.UTC)
    email_cfg, letter_cfg = config.channels.email, config.channels.letter

    def with_template(channel: str) -> Iterator[dict[str, Any]]:
        for r in recipients(run.con, channel):
            extra = legal(str(r.get("locale") or config.locale))
            if "coupon" in r and r["offer"] in valid_until:
                extra = {**extra, "coupon_valid_until": valid_until[r["offer"]]}
            yield {**common, **r, **extra,
                   "template": templates[r["offer"], r["variant"]][channel]}

    if email_cfg:
        (out / "emails").mkdir()
        treated = _treated(run, "email")
        with stage("emails", treated, "emails") as tick:
            batch = render_emails(with_template("email"), env, EmailSettings(
                sender=email_cfg.sender, reply_to=email_cfg.reply_to,
                unsubscribe_url=email_cfg.unsubscribe_url,
                unsubscribe_mailto=email_cfg.unsubscribe_mailto, max_bytes=email_cfg.max_bytes,
                date=sent_at, secret=secret, export_scores=email_cfg.export_scores),
                out / "emails", out / "esp.csv", on_progress=tick, expected=treated)
        rendered.emails, rendered.oversize = batch.count, batch.oversize
        rendered.hashes.update(batch.hashes)
        rendered.quarantined.update((c, ("email", r, batch.errors.get(c, "")))
                                    for c, r in batch.quarantined.items())
    letters = list(with_template("letter")) if letter_cfg else []
    printed: list[tuple[int, str]] = []
    if letter_cfg and letters:
        sender = config.sender
        with stage("letters", len(letters), "letters") as tick:
            lbatch = render_letters(letters, env, LetterSettings(
                layout=letter_cfg.layout, return_address=letter_cfg.return_address,
                date=config.as_of, home_country=sender.country if sender else "DE",
                sender=sender, split=letter_cfg.split), out / "letters.pdf", on_progress=tick)
        rendered.letters, printed = lbatch.count, lbatch.printed
        rendered.hashes.update(lbatch.hashes)
        rendered.quarantined.update((c, ("letter", r, lbatch.errors.get(c, "")))
                                    for c, r in lbatch.quarantined.items())
    _write_print(out / "print.csv", letters, printed)
    return rendered


def _treated(run: Run, channel: str) -> int:
    """How many treated customers the plan gives ``channel``: the size of its render."""
    return sum(groups.get("treatment", 0) for channels in run.plan.final.values()
               for name, groups in channels.items() if name == channel)



PRINT_COLUMNS = ["seq", "customer_id", "salutation", "first_name", "last_name", "company",
                 "street", "postal_code", "city", "country", "offer", "variant", "coupon"]


def _write_print(path: Path, letters: list[dict[str, Any]],
                 printed: list[tuple[int, str]]) -> None:
    """The printed letters in the PDF's order (the postcode presort), by sequence number."""
    by_id = {r["customer_id"]: r for r in letters}
    rows = ([seq, *(by_id[cid].get(c, "") for c in PRINT_COLUMNS[1:])] for seq, cid in printed)
    write_safe_csv(path, PRINT_COLUMNS, rows)


def _manifest(run: Run, run_id: str, rendered: Rendered, treated: int,
              out: Path) -> dict[str, Any]:
    loaded = run.loaded
    files = {p.relative_to(out).as_posix(): _sha256(p) for p in sorted(out.rglob("*"))
             if p.is_file() and p.name != "manifest.json"
             and p.parent.name not in ("emails", "letters")}
    emails = sorted(out.glob("emails/*.eml"))
    combined = hashlib.sha256("".join(_sha256(p) for p in emails).encode()).hexdigest()
    return {
        "run_id": run_id, "campaign": loaded.config.campaign,
        "as_of": loaded.config.as_of.isoformat(),
        "counts": {"emails": rendered.emails, "letters": rendered.letters,
                   "contacts": treated, "oversize_emails": len(rendered.oversize),
                   "not_rendered": len(rendered.quarantined)},
        "variants": run.plan.variants,
        "coupons": {o: {"pool": c.pool, "assigned": c.assigned}
                    for o, c in run.plan.coupons.items()},
        "config_sha256": _sha256(loaded.path),
        "inputs": {Path(f.path).name: _sha256(Path(f.path)) for f in run.account.files},
        "files": files, "emails": {"count": len(emails), "sha256": combined},
        **_split_letters(out),
    }


def _split_letters(out: Path) -> dict[str, Any]:
    """The one-PDF-per-letter folder (campaign option split), hashed as one like the emails."""
    singles = sorted(out.glob("letters/*.pdf"))
    if not singles:
        return {}
    combined = hashlib.sha256("".join(_sha256(p) for p in singles).encode()).hexdigest()
    return {"letters": {"count": len(singles), "sha256": combined}}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def json_text(data: Any) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        raise TypeError(type(value).__name__)
    return json.dumps(data, indent=2, sort_keys=True, default=default) + "\n"
