"""SQL snippets that normalise raw text values. Kept as SQL so the engine does the work."""

from __future__ import annotations

from collections.abc import Mapping

YES = ("yes", "y", "true", "t", "1", "ja", "j", "x", "opt-in", "opted-in", "subscribed")
NO = ("no", "n", "false", "f", "0", "nein", "opt-out", "opted-out", "unsubscribed")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
STATUS = {
    "completed": ("completed", "complete", "paid", "fulfilled", "shipped", "delivered", "closed"),
    "cancelled": ("cancelled", "canceled", "voided", "void"),
    "refunded": ("refunded", "returned", "refund", "return"),
}
CHANNEL = {"email": ("email", "e-mail", "mail-electronic"), "letter": ("letter", "mail", "post"),
           "all": ("all", "any", "*")}


def text(column: str) -> str:
    """Trimmed text, empty -> NULL."""
    return f"nullif(trim({column}), '')"


def in_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


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


def mapped(column: str, table: Mapping[str, tuple[str, ...]]) -> str:
    value = f"lower({text(column)})"
    whens = " ".join(f"WHEN {value} IN ({in_list(v)}) THEN '{k}'" for k, v in table.items())
    return f"CASE {whens} END"


def decimal(column: str) -> str:
    return f"TRY_CAST({text(column)} AS DECIMAL(18,2))"


def date(column: str) -> str:
    return f"TRY_CAST(left({text(column)}, 10) AS DATE)"


# An id that a spreadsheet turned into a float, e.g. 1.67E+13: not guessable, so quarantined.
MANGLED_ID = r"^[0-9]+(\.[0-9]+)?[eE]\+?[0-9]+$"
