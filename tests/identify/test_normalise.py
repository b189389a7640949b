"""The SQL snippets of identify.normalise, run in DuckDB on hand-picked values."""

import duckdb

from crmreport.identify.normalise import text

# Every ASCII character, each space character DuckDB's trim strips, and other non-ASCII ones.
SPACES = [0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000]
CHARS = [chr(c) for c in (*range(1, 128), *SPACES, 0xFC, 0x20AC, 0x301, 0x1F600)]


def test_text_is_trimmed_text_or_null_for_every_character_at_either_end() -> None:
    values = [None, "", "a b", "O000000001", "\r\n"]
    for c in CHARS:
        values += [c, c + c, c + "a", "a" + c, c + "a" + c, "a" + c + "b"]
    con = duckdb.connect()
    con.execute("CREATE TABLE v AS SELECT unnest(?) AS x", [values])
    rows = con.execute(f"SELECT x, {text('x')}, nullif(trim(x), '') FROM v").fetchall()
    assert len(rows) == len(values)
    assert [r for r in rows if r[1] != r[2] or (r[1] is None) != (r[2] is None)] == []
