"""Identify: raw text tables -> typed canonical tables, every row loaded, merged or quarantined.

The rules are stated once, in ``cleaning`` (one ``Spec`` per table, see ``spec``). The
``staging`` engine runs them: every value read as text, parsed and judged in SQL. A clean
export mapped column by column takes the typed lane instead (``lane``): DuckDB's reader types
it, with the same result, in about 1.3-1.4 times the time of a plain read (bench/README.md).
"""

from __future__ import annotations

from pathlib import Path

from crmreport.engine import Connection
from crmreport.files import write_safe_csv
from crmreport.identify.staging import Identified, identify_tables
from crmreport.tables import QUARANTINE

__all__ = ["QUARANTINE_HEADER", "Identified", "identify_tables", "write_quarantine"]

QUARANTINE_HEADER = ("table", "file", "row", "line", "reason", "values")


def write_quarantine(con: Connection, path: Path, files: list[str] | None = None) -> int:
    """Write every quarantined row to ``path`` (formula-safe CSV); return the row count.

    Columns: the table it was meant for, the source file (``files[i]`` when given, else the
    file's index in the account), the data row within the file (1 = first row below the
    header), the record number the parser gives a row it rejected (the header is
    1; a quoted line break does not count), the reason code, and the row's
    values (JSON under canonical names; the line as written for a rejected row). This file is
    for the user to fix their data, so it holds the values; logs never do.
    """
    rows = con.execute(f"SELECT tbl, _file, _row, line, reason, data FROM {QUARANTINE} "
                       "ORDER BY _file, coalesce(_row, 0), coalesce(line, 0)").fetchall()
    out = ((t, files[f] if files and f is not None and f < len(files) else f, r, ln, why, d)
           for t, f, r, ln, why, d in rows)
    return write_safe_csv(path, QUARANTINE_HEADER, out)
