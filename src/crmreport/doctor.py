"""Checks of the machine crmreport runs on: the SQL engine, PDF fonts, the chart browser."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_checks() -> list[Check]:
    return [_check(name, func) for name, func in CHECKS]


def _check(name: str, func: Callable[[], str]) -> Check:
    try:
        return Check(name, True, func())
    except Exception as exc:  # every failure is reported, none stops the others
        return Check(name, False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def _engine() -> str:
    import duckdb

    con = duckdb.connect()
    row = con.execute("SELECT 42::DECIMAL(18,2), "
                      "'2026-03-01T10:00:00+01:00'::TIMESTAMPTZ::DATE")
    assert row.fetchone() is not None
    return f"DuckDB {duckdb.__version__}"


def _fonts() -> str:
    if shutil.which("fc-list") is None:
        raise RuntimeError("fc-list not found; install fontconfig and fonts-dejavu-core")
    listing = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True,
                             check=True).stdout
    found = sorted({f for f in ("DejaVu Sans", "Liberation Sans") if f in listing})
    if not found:
        raise RuntimeError("neither DejaVu Sans nor Liberation Sans is installed; "
                           "apt-get install -y fonts-dejavu-core fonts-liberation")
    return ", ".join(found)


def _pdf() -> str:
    import weasyprint

    pdf = weasyprint.HTML(string="<p>crmreport</p>").write_pdf()
    assert pdf is not None and pdf.startswith(b"%PDF")
    return f"WeasyPrint {weasyprint.__version__}"


def _charts() -> str:
    from importlib.metadata import version

    import plotly.graph_objects as go

    svg = go.Figure(go.Bar(x=[1], y=[1])).to_image(format="svg")
    assert b"<svg" in svg
    return f"kaleido {version('kaleido')} with {shutil.which('chromium') or 'a found browser'}"


CHECKS: list[tuple[str, Callable[[], str]]] = [
    ("engine", _engine), ("fonts", _fonts), ("pdf", _pdf), ("charts", _charts),
]
