"""SQL snippets that normalise raw text values. Kept as SQL so the engine does the work."""

from __future__ import annotations

from collections.abc import Mapping

from crmreport.files import ESCAPED_START
from crmreport.vocabulary import (
    CANCELLED,
    COMPLETED,
    NO,
    REFUNDED,
    TWO_DIGIT_YEAR,
    YES,
    in_list,
)

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
STATUS = {  # canonical status -> the words exports use for it
    COMPLETED: ("completed", "complete", "paid", "fulfilled", "shipped", "delivered", "closed",
                  "abgeschlossen", "bezahlt", "geliefert", "erledigt", "versendet"),
    CANCELLED: ("cancelled", "canceled", "voided", "void", "storniert", "storno"),
    REFUNDED: ("refunded", "returned", "refund", "return", "gutschrift", "retoure",
                 "erstattet"),
}
CHANNEL = {"email": ("email", "e-mail", "mail-electronic"), "letter": ("letter", "mail", "post"),
           "all": ("all", "any", "*")}


def text(column: str) -> str:
    """Trimmed text, empty -> NULL.

    Most values need no trim, and testing that is cheaper than trimming them all: ``trim``
    strips only space characters, and in ASCII text (as many bytes as characters) only ' ',
    so ASCII text starting at '!' or above and not ending in ' ' is its own trim.
    """
    plain = f"strlen({column}) = length({column}) AND {column} >= '!' AND NOT suffix({column}, ' ')"
    return f"CASE WHEN {plain} THEN {column} ELSE nullif(trim({column}), '') END"


def consent(column: str) -> str:
    """yes / no / unknown. Anything not clearly yes or no is unknown, never consent."""
    value = f"lower({text(column)})"
    return (
        f"CASE WHEN {value} IN ({in_list(YES)}) THEN 'yes' "
        f"WHEN {value} IN ({in_list(NO)}) THEN 'no' ELSE 'unknown' END"
    )


def unrecognised_consent(column: str) -> str:
    value = f"lower({text(column)})"
    return f"({value} IS NOT NULL AND {value} NOT IN ({in_list(YES + NO)}))"


def flag(column: str) -> str:
    return f"coalesce(lower({text(column)}) IN ({in_list(YES)}), false)"


def email(column: str) -> str:
    return f"lower({text(column)})"


def valid_email(expr: str) -> str:
    return f"regexp_matches({expr}, '{EMAIL_PATTERN}')"


def postal_code(column: str) -> str:
    """Keep leading zeros; drop the apostrophe spreadsheets use to force text."""
    return f"nullif(ltrim({text(column)}, ''''), '')"


def unescaped(column: str) -> str:
    """Trimmed text as written to a formula-safe CSV by crmreport (files.safe_cell), with
    the apostrophe it put before a leading = + - @ tab CR or apostrophe taken off again."""
    value = text(column)
    starts = ", ".join(f"chr({ord(c)})" for c in ESCAPED_START)
    return (f"CASE WHEN left({value}, 1) = chr(39) AND substr({value}, 2, 1) IN ({starts}) "
            f"THEN substr({value}, 2) ELSE {value} END")


def mapped(column: str, table: Mapping[str, tuple[str, ...]]) -> str:
    """The canonical value for a column's text; NULL when unknown.

    Canonical values as written take a fast path; others go through one MAP lookup (one
    lower/trim per row, not one per alternative: this is on every row of the orders table).
    """
    pairs = ", ".join(f"'{v}': '{k}'" for k, values in table.items() for v in values)
    return (f"CASE WHEN {column} IN ({in_list(tuple(table))}) THEN {column} "
            f"ELSE MAP {{{pairs}}}[lower(trim({column}))] END")


def decimal(column: str) -> str:
    return f"TRY_CAST({text(column)} AS DECIMAL(18,2))"


DATE_FORMATS = ("%d.%m.%Y", "%Y%m%d")


def two_digit_year(column: str) -> str:
    """Whether a date is written with a two-digit year (tested on its first 9 characters:
    the date part of such a value is at most 8)."""
    return f"coalesce(regexp_matches(left({text(column)}, 9), '{TWO_DIGIT_YEAR}'), false)"


def date(column: str) -> str:
    """ISO dates (and the date part of ISO timestamps, as written); German 31.12.2024; CDNOW
    20241231. The plain cast first: it is all most rows need (the others run only where the
    one before failed). A two-digit year is no date (NULL): never the year 00xx."""
    value = text(column)
    fmts = ", ".join(f"'{f}'" for f in DATE_FORMATS)
    return (f"CASE WHEN NOT {two_digit_year(column)} THEN "
            f"coalesce(TRY_CAST({column} AS DATE), TRY_CAST(left({value}, 10) AS DATE), "
            f"CAST(try_strptime(split_part({value}, ' ', 1), [{fmts}]) AS DATE)) END")


def timestamp(column: str) -> str:
    """A timestamp with its UTC offset as written ('2024-03-30 23:15:00 +0100' included)."""
    value = text(column)
    return (f"coalesce(TRY_CAST({value} AS TIMESTAMPTZ), TRY_CAST(regexp_replace({value}, "
            f"'\\s+([+-][0-9]{{2}}):?([0-9]{{2}})$', '\\1\\2') AS TIMESTAMPTZ))")


COUNTRIES = {
    "DE": ("germany", "deutschland"), "AT": ("austria", "österreich", "oesterreich"),
    "CH": ("switzerland", "schweiz", "suisse"), "GB": ("united kingdom", "uk", "great britain",
                                                       "england", "scotland", "wales"),
    "IE": ("ireland", "eire"), "US": ("united states", "usa", "united states of america"),
    "FR": ("france", "frankreich"), "NL": ("netherlands", "niederlande", "holland"),
    "BE": ("belgium", "belgien"), "IT": ("italy", "italien"), "ES": ("spain", "spanien"),
    "PT": ("portugal",), "PL": ("poland", "polen"), "DK": ("denmark", "dänemark"),
    "SE": ("sweden", "schweden"), "NO": ("norway", "norwegen"), "FI": ("finland", "finnland"),
    "IS": ("iceland",), "LT": ("lithuania",), "CY": ("cyprus",), "GR": ("greece",),
    "MT": ("malta",), "CZ": ("czech republic", "czechia", "tschechien"), "JP": ("japan",),
    "AU": ("australia",), "CA": ("canada",), "BR": ("brazil",), "IL": ("israel",),
    "BH": ("bahrain",), "HK": ("hong kong",), "SG": ("singapore",), "LB": ("lebanon",),
    "AE": ("united arab emirates",), "SA": ("saudi arabia",), "ZA": ("south africa", "rsa"),
    "LU": ("luxembourg", "luxemburg"),
}


def country(column: str) -> str:
    """ISO 3166 alpha-2: two letters as given, common English and German names mapped."""
    value = text(column)
    names = " ".join(f"WHEN lower({value}) IN ({in_list(v)}) THEN '{k}'"
                     for k, v in COUNTRIES.items())
    return (f"CASE WHEN regexp_matches({value}, '^[A-Za-z]{{2}}$') THEN upper({value}) "
            f"{names} END")


# An id that a spreadsheet turned into a float, e.g. 1.67E+13: not guessable, so quarantined.
MANGLED_ID = r"^[0-9]+([.,][0-9]+)?[eE]\+?[0-9]+$"


def mangled_id(expr: str) -> str:
    """Whether a trimmed id looks like 1.67E+13 (the pattern only where an E could match)."""
    return f"({expr} ILIKE '%e%' AND regexp_matches({expr}, '{MANGLED_ID}'))"


def test_record(email_sql: str, *name_columns: str) -> str:
    """A record that looks like a test: test@..., ...+test@..., or a name 'Test'."""
    names = " OR ".join(f"lower({text(c)}) IN ('test', 'testing', 'tester')"
                        for c in name_columns)
    return (f"(coalesce(regexp_matches({email_sql}, '^(test|testing|tester)[0-9._+-]*@|\\+test@'),"
            f" false) OR coalesce({names or 'false'}, false))")
