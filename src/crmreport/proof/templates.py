"""Proving a campaign's templates before anything is sent: ``check`` renders each one.

Every template the campaign names (offer x channel x variant) is rendered once per locale,
through the same functions ``build`` uses (``render_emails``, ``render_letters``), for a
sample recipient made up here with every merge field filled. So a template that is missing,
does not compile, names a field no recipient has, or fails while rendering is found by
``check``, with the template's file and line, the campaign key that names it and a fix. The
sample is synthetic: no customer's value can reach a message.

Personalise is imported where it is used: WeasyPrint adds half a second to every start.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmreport.config import Campaign, LoadedCampaign, Offer
from crmreport.config.yamlsource import KeyPath
from crmreport.errors import CrmError, Problem, closest
from crmreport.files import owned_tempdir
from crmreport.personalise.legal import merge_fields
from crmreport.tables import CUSTOMERS, FEATURES

SAMPLE_ID = "SAMPLE-RECIPIENT"
# A key for the sample's unsubscribe link only: nothing is sent from a proof.
_PROOF_SECRET = "crmreport-proof-key-sends-nothing"
_EXTENSIONS = {"email": ("txt", "html"), "letter": ("html",)}
_UNDEFINED = re.compile(r"'(\w+)' is undefined")
_SYNTAX = re.compile(r" line \d+: syntax error")


@dataclass(frozen=True)
class Target:
    """One template to prove: which offer and variant name it, on which channel, and where."""

    offer: Offer
    variant: str
    channel: str
    name: str
    key: KeyPath  # the campaign key that names the template


def targets(config: Campaign) -> list[Target]:
    """Every template of every offer, channel and variant, in file order, each once."""
    found: dict[tuple[str, str, str], Target] = {}
    for i, offer in enumerate(config.offers):
        own = offer.variants is not None
        variants = offer.variants if offer.variants is not None else config.variants
        arms: list[tuple[str, Mapping[str, str], KeyPath]] = [
            (v.id, {str(ch): n for ch, n in v.templates.items()},
             ("offers", i, "variants", j) if own else ("variants", j))
            for j, v in enumerate(variants)] or [("A", {}, ())]
        for variant, replaced, where in arms:
            for channel in offer.channels:
                if getattr(config.channels, channel) is None:
                    continue  # the loader already refused it
                name = replaced.get(channel) or offer.templates[channel]
                key: KeyPath = ((*where, "templates", channel) if channel in replaced
                                else ("offers", i, "templates", channel))
                found.setdefault((offer.id, channel, name),
                                 Target(offer, variant, channel, name, key))
    return list(found.values())


def prove(loaded: LoadedCampaign, locales: list[str | None]) -> list[Problem]:
    """Render every template for a sample recipient in each of ``locales`` (None: a
    recipient without one); one Problem per template that fails, located in the campaign."""
    from crmreport.personalise import make_environment

    config = loaded.config
    env = make_environment(loaded.template_dir, config.locale)
    problems: dict[str, Problem] = {}
    tmp = owned_tempdir("crmreport-")
    try:
        for n, target in enumerate(targets(config)):
            for m, locale in enumerate(locales):  # a template's first failure is enough
                # A folder per render: the email writer never overwrites a file it wrote.
                (out := tmp / f"{n}-{m}").mkdir()
                error = _render_one(loaded, env, target, locale, out)
                if error is not None:
                    problem = _problem(loaded, target, error)
                    problems.setdefault(problem.message, problem)
                    break
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return list(problems.values())


def _render_one(loaded: LoadedCampaign, env: Any, target: Target, locale: str | None,
                tmp: Path) -> CrmError | None:
    from crmreport.personalise import (
        EmailSettings,
        LetterSettings,
        render_emails,
        render_letters,
    )

    config = loaded.config
    sample = sample_recipient(config, target, locale)
    email, letter = config.channels.email, config.channels.letter
    try:
        if target.channel == "email" and email:
            render_emails([sample], env, EmailSettings(
                sender=email.sender, reply_to=email.reply_to,
                unsubscribe_url=email.unsubscribe_url,
                unsubscribe_mailto=email.unsubscribe_mailto, max_bytes=email.max_bytes,
                date=dt.datetime.combine(config.as_of, dt.time(8, 0), tzinfo=dt.UTC),
                secret=_PROOF_SECRET), tmp)
        elif target.channel == "letter" and letter:
            render_letters([sample], env, LetterSettings(
                layout=letter.layout, return_address=letter.return_address,
                date=config.as_of), tmp / "letter.pdf")
    except CrmError as exc:
        return exc
    return None


def sample_recipient(config: Campaign, target: Target, locale: str | None) -> dict[str, Any]:
    """The merge fields ``build`` gives a recipient (``outputs.recipients``), all filled with
    made-up values of their column's type; ``locale`` left out when None."""
    fields: dict[str, Any] = {}
    for column, kind in [*CUSTOMERS.columns.items(), *FEATURES.columns.items()]:
        fields.setdefault(column, _value(column, kind, config.as_of))
    fields.update(customer_id=SAMPLE_ID, email="sample@example.com", country="DE",
                  postal_code="01067", email_consent="yes", segment=target.offer.segments[0],
                  offer=target.offer.id, variant=target.variant, suggested_category="sample",
                  campaign=config.campaign, as_of=config.as_of, currency=config.currency,
                  template=target.name, locale=locale)
    if target.offer.coupons:
        fields["coupon"] = "SAMPLE-CODE"
        if target.offer.coupons.valid_days is not None:
            fields["coupon_valid_until"] = config.as_of + dt.timedelta(
                days=target.offer.coupons.valid_days)
    # the imprint and objection notice build gives every recipient (outputs.py)
    fields.update(merge_fields(config.sender, locale or config.locale))
    return {k: v for k, v in fields.items() if v is not None}


def _value(column: str, kind: str, as_of: dt.date) -> Any:
    if kind == "DATE":
        return as_of - dt.timedelta(days=30)
    if kind == "BOOLEAN":
        return False
    if kind.startswith("DECIMAL"):
        return Decimal("10.00")
    if kind == "DOUBLE":
        return 0.5
    if kind in ("INTEGER", "BIGINT"):
        return 1
    return f"Sample {column.replace('_', ' ')}"


def _problem(loaded: LoadedCampaign, target: Target, error: CrmError) -> Problem:
    """The template's error, at the campaign key naming it, with a fix; the sample's id is
    replaced by what it is."""
    text = str(error).replace(f"customer {SAMPLE_ID}", "a sample recipient (every merge "
                              "field filled)")
    text = text.split("; add it to the data")[0]  # the fix below says it for a sample
    where = f"{target.channel} template '{target.name}' of offer '{target.offer.id}'"
    return loaded.lines.problem(target.key, f"{where}: {text}", _fix(loaded, target, text))


def _fix(loaded: LoadedCampaign, target: Target, text: str) -> str:
    if text.startswith("template not found"):
        names = available(loaded.template_dir, target.channel)
        close = closest(target.name, names)
        listed = ", ".join(names) or "none"
        return (f"did you mean '{close}'? " if close else "") + \
            f"{target.channel} templates in {loaded.template_dir.name}/: {listed}"
    if _SYNTAX.search(text):
        return "correct the tag on that line: {{ ... }} for values, {% ... %} for blocks"
    undefined = _UNDEFINED.search(text)
    if undefined:
        fields = list(sample_recipient(loaded.config, target, None))
        close = closest(undefined.group(1), fields)
        hint = f"did you mean '{close}'? " if close else ""
        return (f"{hint}no recipient has this merge field; write a fallback such as "
                f"{{{{ {undefined.group(1)} | default('...') }}}} if it is optional")
    return "correct the template at that line"


def available(template_dir: Path, channel: str) -> list[str]:
    """The template names found for ``channel`` in any language folder or the channel's own."""
    names: set[str] = set()
    for ext in _EXTENSIONS.get(channel, ()):
        for path in (template_dir / channel).glob(f"**/*.{ext}.j2"):
            names.add(path.name.removesuffix(f".{ext}.j2"))
    names.discard("base")
    return sorted(names)


def locales_in(con: Any, campaign_locale: str) -> list[str | None]:
    """The campaign's locale and every one the customers have (None: customers without)."""
    rows = con.execute(f"SELECT DISTINCT locale FROM {CUSTOMERS} ORDER BY locale "
                       "NULLS LAST").fetchall()
    found: list[str | None] = [campaign_locale]
    found += [r[0] for r in rows if r[0] != campaign_locale]
    return found

