"""Reading source files into DuckDB as raw text tables, with every row numbered and counted."""

from __future__ import annotations

from pathlib import Path

from crmreport.engine import Connection
from crmreport.errors import DataError

SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_raw(con: Connection, path: Path, table: str) -> tuple[list[str], int]:
    """Create ``table`` holding the file's columns as VARCHAR plus ``_row`` (1-based data row).

    Returns the source column names and the number of malformed rows the CSV parser rejected
    (they are counted by the caller as quarantined, never silently dropped).
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found; check the path in the campaign's data section")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type '{path.suffix}'; use CSV or Parquet")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; export it again with a header row")
    if kind == "csv" and b"\x00" in path.open("rb").read(8192):
        raise DataError(f"{path}: cannot be read as CSV: it holds binary data (NUL bytes); "
                        "export it as CSV text, or as Parquet")
    try:
        rejected = _read_csv(con, path, table) if kind == "csv" else _read_parquet(con, path, table)
    except Exception as exc:  # DuckDB raises many types; all mean the file is unreadable
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: cannot be read as {kind.upper()}: {_first_line(exc)}") from None
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[0] != "_row"]
    return columns, rejected


def _read_csv(con: Connection, path: Path, table: str) -> int:
    con.execute(
        f"""CREATE OR REPLACE TABLE {table} AS
        SELECT row_number() OVER () AS _row, * FROM read_csv(?, all_varchar = true, header = true,
            store_rejects = true, rejects_table = '{table}_rejects',
            rejects_scan = '{table}_scans')""",
        [str(path)],
    )
    row = con.execute(f"SELECT count(DISTINCT line) FROM {table}_rejects").fetchone()
    con.execute(f"DROP TABLE IF EXISTS {table}_rejects; DROP TABLE IF EXISTS {table}_scans")
    return int(row[0]) if row else 0


def _read_parquet(con: Connection, path: Path, table: str) -> int:
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    names = [r[0] for r in described]
    casts = ", ".join(f'CAST("{n}" AS VARCHAR) AS "{n}"' for n in names)
    con.execute(
        f"""CREATE OR REPLACE TABLE {table} AS
        SELECT CAST(file_row_number + 1 AS BIGINT) AS _row, {casts}
        FROM read_parquet(?, file_row_number = true)""",
        [str(path)],
    )
    return 0


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
