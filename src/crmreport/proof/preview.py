"""Proofs: one real recipient per combination the plan would send, rendered by build's own
code (``outputs.render_content``), with a contact sheet (index.html) to look at them all.

A combination is segment x offer x channel x variant x locale among the treated customers;
its proof recipient is the one with the smallest md5 of the customer id, so the same data
gives the same proofs. Nothing is written outside the proofs folder: the contact history is
only read, no code is taken from a coupon pool (every code shows as PLACEHOLDER_COUPON), and
unsubscribe links are keyed with PREVIEW_SECRET, so a forwarded proof unsubscribes no one.
"""

from __future__ import annotations

import email
import email.policy
import html
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from crmreport.errors import DataError, RenderError, TemplateError
from crmreport.files import atomic_dir, safe_filename, write_text
from crmreport.interact import history
from crmreport.interact.explain import explain_customer
from crmreport.outputs import Rendered, json_text, recipients, render_content
from crmreport.proof.redact import redact as redact_fields
from crmreport.proof.sheet import contact_sheet
from crmreport.run import Run
from crmreport.tables import CONTACT_PLAN

PLACEHOLDER_COUPON = "XXXX-PREVIEW"
PREVIEW_SECRET = "crmreport-preview-only-these-links-unsubscribe-no-one"
MARKER = "preview.json"  # marks a folder as proofs, so --out never replaces anything else
_PROOF_PLAN = "proof_plan"
_THUMBNAIL_DPI = "50"


@dataclass
class Proof:
    """One combination, its proof recipient and what was written for it (relative paths)."""

    segment: str
    offer: str
    channel: str
    variant: str
    locale: str
    recipients: int  # treated customers in this combination
    customer_id: str  # the proof recipient (a pseudonym when redacted)
    file: str = ""  # the .eml or the one-page .pdf
    view: str = ""  # an HTML view of the email or a PNG of the letter ("" if none)
    subject: str = ""
    problem: str = ""  # why it could not be rendered (template and line, never a value)


@dataclass
class Preview:
    campaign: str
    as_of: str
    out_dir: Path
    redacted: bool
    proofs: list[Proof] = field(default_factory=list)
    last_run: str | None = None  # the campaign's last run in the history, if any

    @property
    def problems(self) -> list[Proof]:
        return [p for p in self.proofs if p.problem]

    def as_dict(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "as_of": self.as_of, "redacted": self.redacted,
                "placeholder_coupon": PLACEHOLDER_COUPON,
                "proofs": [asdict(p) for p in self.proofs]}


def write_proofs(run: Run, out_dir: Path, customer_id: str | None = None,
                 redact: bool = False) -> Preview:
    """Render the proofs into ``out_dir`` (replaced whole, and only if it holds proofs or
    nothing). ``customer_id`` proofs that customer alone; ``redact`` invents their personal
    fields. Changes only ``run``'s engine tables, so ``run`` is spent afterwards."""
    _check_out_dir(out_dir)
    last = history.last_run(run.con, run.loaded.config.campaign)
    proofs = _combinations(run)
    if customer_id is not None:
        proofs = [_for_customer(run, proofs, customer_id)]
    if redact:
        renamed = redact_fields(run.con, [p.customer_id for p in proofs])
        for proof in proofs:
            proof.customer_id = renamed[proof.customer_id]
    _keep_only(run, [p.customer_id for p in proofs])
    config = run.loaded.config
    preview = Preview(config.campaign, config.as_of.isoformat(), out_dir, redact, proofs,
                      last.run_id if last else None)
    with atomic_dir(out_dir) as tmp:
        for number, proof in enumerate(proofs, 1):
            _render_proof(run, proof, tmp, number)
        write_text(tmp / "index.html", contact_sheet(preview))
        write_text(tmp / MARKER, json_text(preview.as_dict()))
    return preview


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: --out must be a folder for the proofs, not a file")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise DataError(f"{out_dir}: the folder is not empty and holds no earlier proofs; "
                        "preview replaces its --out folder whole, so choose a new or empty "
                        "folder (e.g. --out out/preview)")


def _combinations(run: Run) -> list[Proof]:
    rows = run.con.execute(f"""
        SELECT p.segment, p.offer, p.channel, p.variant, coalesce(c.locale, ''), count(*),
               arg_min(p.customer_id, md5(p.customer_id))
        FROM {CONTACT_PLAN} p JOIN customers c USING (customer_id)
        WHERE p.excluded IS NULL AND p.test_group = 'treatment'
        GROUP BY ALL ORDER BY ALL""").fetchall()
    return [Proof(*row) for row in rows]


def _for_customer(run: Run, proofs: list[Proof], customer_id: str) -> Proof:
    """The proof of one customer's combination; an error saying why if they get none."""
    config = run.loaded.config
    why = explain_customer(run.con, config, run.rules, customer_id)  # merged ids resolve
    decision = why.decision
    if decision.status != "contact":
        raise DataError(f"customer {customer_id} gets nothing from campaign {config.campaign}"
                        f" ({decision.status}): {decision.reason}. `crmreport explain "
                        f"--customer {customer_id}` shows every verdict")
    row = run.con.execute(
        f"SELECT p.segment, p.offer, p.channel, p.variant, coalesce(c.locale, '') FROM "
        f"{CONTACT_PLAN} p JOIN customers c USING (customer_id) WHERE customer_id = ?",
        [why.customer_id]).fetchone()
    key = tuple(row or ())
    for proof in proofs:
        if (proof.segment, proof.offer, proof.channel, proof.variant, proof.locale) == key:
            proof.customer_id = why.customer_id
            return proof
    raise AssertionError(f"customer {why.customer_id} is contacted but in no combination")


def _keep_only(run: Run, customer_ids: list[str]) -> None:
    """Reduce the plan to the proof recipients, each code a placeholder, kept aside in
    ``proof_plan``; the offers' pools stay untouched (they are only ever read)."""
    con = run.con
    pooled = [o.id for o in run.loaded.config.offers if o.coupons]
    con.execute(f"CREATE OR REPLACE TABLE {_PROOF_PLAN} AS SELECT * FROM {CONTACT_PLAN} "
                "WHERE list_contains(?, customer_id)", [customer_ids])
    con.execute(f"UPDATE {_PROOF_PLAN} SET coupon = CASE WHEN list_contains(?, offer) "
                "THEN ? END", [pooled, PLACEHOLDER_COUPON])


def _render_proof(run: Run, proof: Proof, out: Path, number: int) -> None:
    """Render the proof recipient alone into a scratch folder; keep the email or letter."""
    run.con.execute(f"CREATE OR REPLACE TABLE {CONTACT_PLAN} AS SELECT * FROM {_PROOF_PLAN} "
                    "WHERE customer_id = ?", [proof.customer_id])
    name = safe_filename(f"{number:02d}-{proof.segment}-{proof.offer}-{proof.channel}-"
                         f"{proof.variant}-{proof.locale or 'default'}")
    scratch = out / f".{name}.work"
    scratch.mkdir()
    try:
        rendered = render_content(run, scratch, PREVIEW_SECRET)
        _note_set_aside(proof, rendered)
        if proof.channel == "email":
            _keep_email(proof, scratch / "emails", out, name)
        else:
            _keep_letter(run, proof, scratch / "letters.pdf", out, name)
    except (TemplateError, RenderError) as exc:  # shown on the sheet; the others go on
        proof.problem = str(exc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not proof.file and not proof.problem:
        proof.problem = "nothing was rendered for this recipient"


def _note_set_aside(proof: Proof, rendered: Rendered) -> None:
    if proof.customer_id in rendered.quarantined:
        _, code, detail = rendered.quarantined[proof.customer_id]
        proof.problem = f"{code}: {detail}" if detail else code


def _keep_email(proof: Proof, emails: Path, out: Path, name: str) -> None:
    found = sorted(emails.glob("*.eml")) if emails.is_dir() else []
    if not found:
        return
    data = found[0].read_bytes()
    (out / f"{name}.eml").write_bytes(data)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    proof.file, proof.subject = f"{name}.eml", str(message["Subject"] or "")
    body = message.get_body(("html",))
    if body is not None:
        write_text(out / f"{name}.html", str(body.get_content()))
        proof.view = f"{name}.html"


def _keep_letter(run: Run, proof: Proof, pdf: Path, out: Path, name: str) -> None:
    if not pdf.is_file():
        return
    shutil.copyfile(pdf, out / f"{name}.pdf")
    proof.file, proof.subject = f"{name}.pdf", _letter_subject(run)
    if _thumbnail(out / f"{name}.pdf", out / name):
        proof.view = f"{name}.png"


def _thumbnail(pdf: Path, stem: Path) -> bool:
    """A PNG of the letter beside it, when poppler's pdftoppm is installed (else none)."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        return False
    done = subprocess.run([tool, "-r", _THUMBNAIL_DPI, "-png", "-singlefile", str(pdf),
                           str(stem)], capture_output=True, check=False)
    return done.returncode == 0 and stem.with_suffix(".png").is_file()


def _letter_subject(run: Run) -> str:
    """The letter's subject block for the one recipient in the plan; "" if it has none."""
    from crmreport.personalise import TemplateCache, make_environment, render

    config = run.loaded.config
    recipient = next(recipients(run.con, "letter"), None)
    if recipient is None:
        return ""
    env = make_environment(run.loaded.template_dir, config.locale)
    context = {"campaign": config.campaign, "as_of": config.as_of, "currency": config.currency,
               **recipient, "letter_date": config.as_of, "part": "letter",
               "template": _template_name(run, recipient["offer"], recipient["variant"])}
    try:
        template = TemplateCache(env, "letter").get(context, "html")
        # the letter is HTML: its subject comes with entities (&ndash;) to read as text
        return " ".join(html.unescape(render(template, context, "subject")).split())
    except (TemplateError, KeyError):  # no subject block: the sheet shows none
        return ""


def _template_name(run: Run, offer_id: str, variant: str) -> str:
    """The letter template of an offer's variant, as build chooses it."""
    config = run.loaded.config
    offer = next(o for o in config.offers if o.id == offer_id)
    variants = offer.variants if offer.variants is not None else config.variants
    own = next((v.templates for v in variants if v.id == variant), {})
    names = {str(ch): name for ch, name in {**offer.templates, **own}.items()}
    return names["letter"]
