"""The imprint and objection notice every marketing email and letter carries.

Both come from the campaign's ``sender`` block, so a template shows them with
``{{ imprint | join(' · ') }}`` and ``{{ objection_notice }}`` and never repeats the
company's details by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from babel import Locale

from crmreport import localisation

if TYPE_CHECKING:  # the config package (pydantic, YAML) is not needed to write a notice:
    from crmreport.config.models import Sender  # worker processes start without it

_DEFAULT = Locale.parse("de_DE")
_REGISTER = {"de": "Registergericht", "en": "Register"}
_DIRECTOR = {"de": "Geschäftsführung", "en": "Managing director"}
_VAT = {"de": "USt-IdNr.", "en": "VAT ID"}

# The notice that the recipient may object to advertising at any time, at no cost beyond
# the basic rates of sending the objection.
_OBJECTION = {
    "de": "Sie können der Verwendung Ihrer Daten für Werbung jederzeit widersprechen, ohne "
          "dass Ihnen andere als die Übermittlungskosten nach den Basistarifen entstehen{how}.",
    "en": "You may object to the use of your data for advertising at any time, at no cost "
          "other than the basic rates of sending your objection{how}.",
}
_HOW = {"de": ", z. B. per E-Mail an {email}", "en": ", for example by e-mail to {email}"}


def _language(locale: str) -> str:
    return "de" if locale.lower().startswith("de") else "en"


def imprint(sender: Sender, locale: str) -> list[str]:
    """The imprint's lines: company, postal address, register, managing director, VAT id."""
    lang = _language(locale)
    country = localisation.country(sender.country, localisation.resolve(locale, _DEFAULT))
    lines = [sender.company,
             f"{sender.street}, {sender.postal_code} {sender.city}, {country}"]
    if sender.register:
        lines.append(f"{_REGISTER[lang]}: {sender.register}")
    if sender.managing_director:
        lines.append(f"{_DIRECTOR[lang]}: {sender.managing_director}")
    if sender.vat_id:
        lines.append(f"{_VAT[lang]}: {sender.vat_id}")
    return lines


def objection_notice(sender: Sender | None, locale: str) -> str:
    """The objection notice in the recipient's language, naming the sender's address for it."""
    lang = _language(locale)
    how = _HOW[lang].format(email=sender.email) if sender and sender.email else ""
    return _OBJECTION[lang].format(how=how)


def merge_fields(sender: Sender | None, locale: str) -> dict[str, object]:
    """``imprint`` (its lines; none without a sender block) and ``objection_notice`` for the
    templates, in the language of ``locale``."""
    return {"imprint": imprint(sender, locale) if sender else [],
            "objection_notice": objection_notice(sender, locale)}
