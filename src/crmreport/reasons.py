"""Every reason code crmreport writes, declared once: what happened to an input row
(quarantined, merged, flagged) and why a customer with an offer is not contacted.

A code is looked up here wherever it is written, so an undeclared one fails at once
(``code``, ``quoted``); labels, fixes and the README's table are read from here too.
The exclusions are listed in their order of judgement: a customer is counted under the
first that applies, and ``step`` names those who pass it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    QUARANTINE = "quarantine"  # the row is set aside, written to the quarantine file
    MERGE = "merge"  # the row's data is held by another row
    FLAG = "flag"  # the row is kept, with a repair or a warning
    EXCLUSION = "exclusion"  # the customer is not contacted


QUARANTINE, MERGE, FLAG, EXCLUSION = Kind.QUARANTINE, Kind.MERGE, Kind.FLAG, Kind.EXCLUSION
LANGUAGES = ("en", "de")


class UndeclaredReason(LookupError):
    """A code that is not declared here, or not of the kind it is used as."""


@dataclass(frozen=True)
class Reason:
    code: str
    kinds: tuple[Kind, ...]  # one code may quarantine in one table and flag in another
    en: str
    de: str
    fix: str  # how to fix it, one sentence (en)
    fix_de: str = ""
    step: str | None = None  # exclusions: who passes this step (plan.json's step label)

    def label(self, language: str = "en") -> str:
        return self.de if language == "de" else self.en


def _q(code: str, en: str, de: str, fix: str, fix_de: str = "") -> Reason:
    return Reason(code, (QUARANTINE,), en, de, fix, fix_de)


def _m(code: str, en: str, de: str, fix: str, fix_de: str = "") -> Reason:
    return Reason(code, (MERGE,), en, de, fix, fix_de)


def _f(code: str, en: str, de: str, fix: str, fix_de: str = "") -> Reason:
    return Reason(code, (FLAG,), en, de, fix, fix_de)


def _x(code: str, step: str, en: str, de: str, fix: str, fix_de: str = "") -> Reason:
    return Reason(code, (EXCLUSION,), en, de, fix, fix_de, step)


_NOTHING = "Nothing to fix: this is how the export is read."
_NICHTS = "Nichts zu tun: so wird der Export gelesen."

DECLARED: tuple[Reason, ...] = (
    # Lines the CSV parser rejects (see PARSER_REJECT_SQL).
    _q("malformed_row", "Line with another number of fields than the header",
       "Zeile mit anderer Feldanzahl als die Kopfzeile",
       "Quote fields that contain the delimiter, or re-export with one record per line.",
       "Felder mit Trennzeichen in Anführungszeichen setzen."),
    _q("wrong_encoding", "Line not in the file's encoding",
       "Zeile nicht in der Kodierung der Datei",
       "Re-export the file in one encoding, preferably UTF-8.",
       "Datei in einer Kodierung exportieren, am besten UTF-8."),
    _f("mixed_encoding", "Line in UTF-8 inside a Windows-1252 file, read as UTF-8",
       "Zeile in UTF-8 in einer Windows-1252-Datei, als UTF-8 gelesen",
       "Check the names on the lines the account lists; re-export the file in one "
       "encoding, preferably UTF-8.",
       "Namen in den genannten Zeilen prüfen; Datei in einer Kodierung exportieren."),
    _q("formula_without_value", "Excel formula cell without a saved value",
       "Excel-Formelzelle ohne gespeicherten Wert",
       "Open and save the file in Excel so the values are stored, or export CSV.",
       "Datei in Excel öffnen und speichern, damit die Werte gespeichert werden, oder als "
       "CSV exportieren."),
    # The cleaning rules' checks (identify.cleaning).
    Reason("two_digit_year", (QUARANTINE, FLAG), "Date with a two-digit year (01.03.23)",
           "Datum mit zweistelliger Jahreszahl (01.03.23)",
           "Write dates with four-digit years (01.03.2023 or 2023-03-01); a signup date is "
           "left empty.",
           "Datum mit vierstelliger Jahreszahl schreiben (01.03.2023 oder 2023-03-01)."),
    _q("missing_customer_id", "Customer id missing", "Kundennummer fehlt",
       "Fill in the customer id, or map the column that holds it.",
       "Kundennummer ergänzen oder die richtige Spalte zuordnen."),
    _q("mangled_customer_id", "Customer id mangled by a spreadsheet (1.67E+13)",
       "Kundennummer von einer Tabellenkalkulation verstümmelt (1,67E+13)",
       "Export the id column as text, not as a number.",
       "Die Spalte als Text exportieren, nicht als Zahl."),
    _q("missing_order_id", "Order id missing", "Bestellnummer fehlt",
       "Fill in the order id, or map the column that holds it.",
       "Bestellnummer ergänzen oder die richtige Spalte zuordnen."),
    _q("bad_order_date", "Order date missing or unreadable",
       "Bestelldatum fehlt oder ist unlesbar",
       "Write the order date as YYYY-MM-DD or in the preset's date format.",
       "Datum als JJJJ-MM-TT schreiben."),
    _q("bad_amount", "Amount missing or not a number", "Betrag fehlt oder ist keine Zahl",
       "Write the amount as a plain number, e.g. 1234.56.",
       "Betrag als Zahl schreiben, z. B. 1234,56."),
    _q("unknown_status", "Unknown order status", "Unbekannter Bestellstatus",
       "Use completed, cancelled or refunded (or a usual synonym) as the status.",
       "Status completed, cancelled oder refunded verwenden."),
    _q("other_currency", "Order in another currency than the campaign's",
       "Bestellung in anderer Währung als die Kampagne",
       "Give rates for its currency in data.currency_rates, or set the campaign's currency.",
       "Wechselkurse in data.currency_rates angeben oder die Währung der Kampagne setzen."),
    _q("no_currency_rate", "No exchange rate on or before the order date",
       "Kein Wechselkurs am oder vor dem Bestelldatum",
       "Add a rate for the order's currency dated on or before the order date to "
       "data.currency_rates.",
       "Einen Kurs mit Datum am oder vor dem Bestelldatum in data.currency_rates ergänzen."),
    _q("unknown_order", "Order line of an order not in the orders file",
       "Bestellposition einer Bestellung, die nicht in der Bestelldatei steht",
       "Export the orders and their lines for the same period.",
       "Bestellungen und Positionen für denselben Zeitraum exportieren."),
    _q("no_identifier", "Suppression without email address or customer id",
       "Sperre ohne E-Mail-Adresse oder Kundennummer",
       "Give every suppression an email address or a customer id.",
       "Jeder Sperre eine E-Mail-Adresse oder Kundennummer geben."),
    _q("unknown_channel", "Suppression for an unknown channel", "Sperre für unbekannten Kanal",
       "Use email, letter or all as the channel (empty means all).",
       "Kanal email, letter oder all verwenden."),
    _q("incomplete_contact", "Contact without campaign, customer id or date",
       "Kontakt ohne Kampagne, Kundennummer oder Datum",
       "Restore the contact history as build wrote it.",
       "Kontakthistorie wiederherstellen, wie build sie schrieb."),
    _q("unknown_group", "Contact in a test group other than treatment or control",
       "Kontakt in anderer Testgruppe als treatment oder control",
       "Set test_group to treatment or control.",
       "test_group auf treatment oder control setzen."),
    # Presets' own quarantine reasons (ingest.presets).
    _q("fee_line", "Fee or adjustment line, not product revenue",
       "Gebühren- oder Korrekturzeile, kein Warenumsatz", _NOTHING, _NICHTS),
    _q("bad_line", "Quantity or price missing or unreadable",
       "Menge oder Preis fehlt oder ist unlesbar",
       "Correct the quantity and price at the source.",
       "Menge und Preis an der Quelle korrigieren."),
    _q("fractional_customer_id", "Customer id that is not a whole number (never rounded)",
       "Kundennummer ist keine ganze Zahl (nie gerundet)",
       "Correct the customer id at the source.", "Kundennummer an der Quelle korrigieren."),
    _q("stock_adjustment", "Stock adjustment (negative quantity without a credit note)",
       "Bestandskorrektur (negative Menge ohne Gutschrift)", _NOTHING, _NICHTS),
    _q("unpaid_order", "Unpaid order (failed, pending, on hold or draft)",
       "Unbezahlte Bestellung (fehlgeschlagen, offen, angehalten oder Entwurf)",
       _NOTHING, _NICHTS),
    Reason("guest_row", (QUARANTINE, FLAG), "Guest purchase without a customer id",
           "Gastkauf ohne Kundennummer",
           "Nothing to fix: a guest's order is kept, and makes no customer.",
           "Nichts zu tun: die Bestellung bleibt, ein Kunde entsteht nicht."),
    # Merges: duplicates of a table's key (``duplicate``) and presets' own.
    _m("duplicate_customer_id", "Repeated customer id, merged into its first row",
       "Wiederholte Kundennummer, mit ihrer ersten Zeile zusammengeführt",
       "Export each customer once; until then empty fields are filled from later rows.",
       "Jeden Kunden einmal exportieren."),
    _m("same_person", "Another record of the same person, merged into its first one",
       "Weiterer Datensatz derselben Person, mit dem ersten zusammengeführt",
       "Nothing to fix if they are one person; otherwise narrow identity.match in the "
       "campaign, or set it to [] to merge no records.",
       "Nichts zu tun, wenn es eine Person ist; sonst identity.match einschränken."),
    _m("duplicate_order_id", "Repeated order id, merged into its first row",
       "Wiederholte Bestellnummer, mit ihrer ersten Zeile zusammengeführt",
       "Export each order once.", "Jede Bestellung einmal exportieren."),
    _m("duplicate_line", "Exact copy of an earlier line", "Exakte Kopie einer früheren Zeile",
       "Remove the copy at the source, if it is one.", "Kopie an der Quelle entfernen."),
    _m("order_line", "Further line of a multi-line order",
       "Weitere Zeile einer mehrzeiligen Bestellung", _NOTHING, _NICHTS),
    _m("same_day_purchase", "Further purchase of a customer on the same day",
       "Weiterer Kauf eines Kunden am selben Tag", _NOTHING, _NICHTS),
    # Recipients set aside while rendering: not contacted, listed in not_rendered.csv.
    _q("invalid_address", "Email address a message cannot carry (not emailed)",
       "E-Mail-Adresse, die keine Nachricht tragen kann (nicht gemailt)",
       "Correct the address at the source; a non-ASCII part before the @ is not supported.",
       "Adresse an der Quelle korrigieren; Nicht-ASCII vor dem @ wird nicht unterstützt."),
    _q("template_failed", "Template failed for this customer (not sent)",
       "Vorlage für diesen Kunden fehlgeschlagen (nicht versandt)",
       "Read the message in not_rendered.csv: fill in the field, or write a fallback or a "
       "shorter result in the template.",
       "Meldung in not_rendered.csv lesen: Feld füllen oder in der Vorlage einen Ersatzwert "
       "oder ein kürzeres Ergebnis schreiben."),
    _q("letter_too_long", "Letter runs over one page (not printed)",
       "Brief länger als eine Seite (nicht gedruckt)",
       "Shorten the template's text, or the fields it prints, so every letter fits on one "
       "page.",
       "Text der Vorlage oder die gedruckten Felder kürzen, damit jeder Brief auf eine Seite "
       "passt."),
    _q("address_clipped", "Address the envelope window would clip (not printed)",
       "Anschrift, die das Sichtfenster abschneiden würde (nicht gedruckt)",
       "Shorten the company or name at the source, or drop a line, so the address takes at "
       "most 6 lines.",
       "Firma oder Namen an der Quelle kürzen oder eine Zeile weglassen (höchstens 6 "
       "Zeilen)."),
    # Flags on kept rows: cleaning rules and presets.
    _f("invalid_email", "Invalid email address (left empty)",
       "Ungültige E-Mail-Adresse (leer gelassen)",
       "Correct the address at the source.", "Adresse an der Quelle korrigieren."),
    _f("unrecognised_consent", "Unrecognised consent (read as unknown)",
       "Unbekannte Einwilligung (als unbekannt gelesen)",
       "Write email consent as yes or no.", "Einwilligung als ja oder nein schreiben."),
    _f("bad_signup_date", "Unreadable signup date (left empty)",
       "Unlesbares Anmeldedatum (leer gelassen)",
       "Write the signup date as YYYY-MM-DD.", "Datum als JJJJ-MM-TT schreiben."),
    _f("unknown_country", "Unknown country (left empty)", "Unbekanntes Land (leer gelassen)",
       "Use two-letter ISO country codes (DE, AT, CH, ...).",
       "ISO-Ländercodes verwenden (DE, AT, CH, ...)."),
    _f("test_customer", "Looks like a test customer", "Sieht nach Testkunde aus",
       "Remove test customers at the source.", "Testkunden an der Quelle entfernen."),
    _f("shared_email", "Email address shared with another customer id",
       "E-Mail-Adresse mit anderer Kundennummer geteilt",
       "Merge the customers at the source if they are one person.",
       "Kunden an der Quelle zusammenführen, wenn es eine Person ist."),
    _f("converted_currency", "Order converted into the campaign's currency",
       "Bestellung in die Währung der Kampagne umgerechnet",
       "Nothing to fix: converted at the latest rate on or before the order date.",
       "Nichts zu tun: zum letzten Kurs am oder vor dem Bestelldatum umgerechnet."),
    _f("guest_order", "Guest order without a customer id", "Gastbestellung ohne Kundennummer",
       "Nothing to fix: guest orders are kept apart.",
       "Nichts zu tun: Gastbestellungen bleiben für sich."),
    _f("missing_status", "Empty order status (read as completed)",
       "Leerer Bestellstatus (als abgeschlossen gelesen)",
       "Export the status column if orders can be cancelled or refunded.",
       "Die Statusspalte mit exportieren."),
    _f("unknown_customer", "Order of a customer not in the customers file",
       "Bestellung eines Kunden, der nicht in der Kundendatei steht",
       "Export the customers and orders at the same time.",
       "Kunden und Bestellungen zur selben Zeit exportieren."),
    _f("bad_quantity", "Quantity not a whole number (read as 1)",
       "Menge keine ganze Zahl (als 1 gelesen)",
       "Write quantities as whole numbers.", "Mengen als ganze Zahlen schreiben."),
    _f("guest_customer", "Guest customer without an account", "Gastkunde ohne Konto",
       _NOTHING, _NICHTS),
    _f("customer_not_identified", "Order not linked to a customer (no email column)",
       "Bestellung keinem Kunden zugeordnet (keine E-Mail-Spalte)",
       "Export the orders with the billing email column.",
       "Bestellungen mit der Spalte Billing Email exportieren."),
    _f("tagged_test", "Customer tagged as test", "Kunde als Test markiert",
       "Remove test customers at the source.", "Testkunden an der Quelle entfernen."),
    _f("test_order", "Test order (test gateway, tag or address)",
       "Testbestellung (Test-Zahlungsart, -Tag oder -Adresse)",
       "Remove test orders at the source.", "Testbestellungen an der Quelle entfernen."),
    # Contact exclusions, in the order they are judged (interact.plan).
    _x("no_permission", "permitted", "No channel of the offer is allowed",
       "Kein Kanal des Angebots ist erlaubt",
       "Ask for email consent or complete the postal address; never overridden.",
       "Einwilligung einholen oder Anschrift vervollständigen."),
    _x("suppressed", "not suppressed", "Every allowed channel is suppressed",
       "Jeder erlaubte Kanal ist gesperrt",
       "Nothing to fix: suppressions are honoured, by id and by email address.",
       "Nichts zu tun: Sperren gelten."),
    _x("duplicate_email", "unique email address",
       "Another customer gets this email at the same address",
       "Ein anderer Kunde erhält diese E-Mail an dieselbe Adresse",
       "Merge customers who share an address at the source.",
       "Kunden mit derselben Adresse an der Quelle zusammenführen."),
    _x("already_contacted", "new to this campaign", "Already in this campaign's history",
       "Bereits in der Historie dieser Kampagne",
       "Nothing to fix: a campaign contacts each customer once.",
       "Nichts zu tun: eine Kampagne kontaktiert jeden Kunden einmal."),
    _x("frequency_cap", "under the contact cap", "Contact cap reached",
       "Kontaktobergrenze erreicht",
       "Raise the policy's max_contacts if the cap is too tight.",
       "max_contacts der Kontaktregeln erhöhen."),
    _x("quiet_period", "outside the quiet period", "Contacted within the quiet period",
       "In der Ruhezeit kontaktiert",
       "Lower the policy's quiet_days, or wait.", "quiet_days verringern oder warten."),
)

REASONS: dict[str, Reason] = {r.code: r for r in DECLARED}
if len(REASONS) != len(DECLARED):
    raise UndeclaredReason("a reason code is declared twice")
EXCLUSIONS: tuple[Reason, ...] = tuple(r for r in DECLARED if EXCLUSION in r.kinds)


def reason(code: str, kind: Kind | None = None) -> Reason:
    """The declared reason; UndeclaredReason when there is none (of that kind)."""
    found = REASONS.get(code)
    if found is None:
        raise UndeclaredReason(f"reason code {code!r} is not declared in crmreport.reasons")
    if kind is not None and kind not in found.kinds:
        raise UndeclaredReason(f"reason code {code!r} is not a {kind.value} reason")
    return found


def code(code: str, kind: Kind | None = None) -> str:
    """The code itself, once known to be declared (of that kind)."""
    return reason(code, kind).code


def quoted(code: str, kind: Kind) -> str:
    """A declared code as an SQL literal."""
    return f"'{reason(code, kind).code}'"


def duplicate(key: str) -> str:
    """The merge reason of a row repeating its table's key."""
    return code(f"duplicate_{key}", MERGE)


def label(code: str, language: str = "en") -> str:
    return reason(code).label(language)


MALFORMED_ROW = code("malformed_row", QUARANTINE)
WRONG_ENCODING = code("wrong_encoding", QUARANTINE)
FORMULA_WITHOUT_VALUE = code("formula_without_value", QUARANTINE)
MIXED_ENCODING = code("mixed_encoding", FLAG)
INGEST_FLAGS = (MIXED_ENCODING,)  # flags the readers count per file (RawRead.flagged)
PARSER_REJECTS = (MALFORMED_ROW, WRONG_ENCODING, FORMULA_WITHOUT_VALUE)


def parser_reject_sql(error: str = "error") -> str:
    """The reason of a line DuckDB's CSV reader rejected, from its error type column (the
    Excel reader writes its code there)."""
    return (f"CASE WHEN {error} = 'INVALID ENCODING' THEN '{WRONG_ENCODING}' "
            f"WHEN {error} = '{FORMULA_WITHOUT_VALUE}' THEN '{FORMULA_WITHOUT_VALUE}' "
            f"ELSE '{MALFORMED_ROW}' END")


NO_PERMISSION = code("no_permission", EXCLUSION)
SUPPRESSED = code("suppressed", EXCLUSION)
DUPLICATE_EMAIL = code("duplicate_email", EXCLUSION)
ALREADY_CONTACTED = code("already_contacted", EXCLUSION)
FREQUENCY_CAP = code("frequency_cap", EXCLUSION)
QUIET_PERIOD = code("quiet_period", EXCLUSION)
