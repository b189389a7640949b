"""Start-up stays light: what a module imports is checked in a fresh interpreter.

Structural, not timed (bench/bench_startup.py times it): `crmreport --help` must not pay
for the data libraries, and the stages up to reading the files must not pay for the models
and the report.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "plotly", "weasyprint", "duckdb", "sklearn", "scipy", "pyarrow", "jinja2",
         "babel", "pyspark")


def imported_after(statement: str) -> set[str]:
    """The libraries of HEAVY that ``statement`` imports in a new interpreter."""
    code = (f"import json, sys\n{statement}\n"
            f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True,
                         capture_output=True, text=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_cli_imports_no_heavy_library() -> None:
    assert imported_after("import crmreport.cli") == set()


def test_help_imports_no_heavy_library() -> None:
    statement = ("from crmreport.cli import main\n"
                 "try:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert imported_after(statement) == set()


@pytest.mark.parametrize("module", ["crmreport.pipeline", "crmreport.config"])
def test_reading_stages_import_only_the_engine(module: str) -> None:
    # check, plan and build start reading files before the models and the report load
    assert imported_after(f"import {module}") <= {"duckdb"}
