"""The catalogue in ``crmreport.tables`` against a real run: every declared table exists with
exactly its declared columns and types, and each stage's handle names exactly the tables the
catalogue says it makes. A stage adding, dropping or retyping a column fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmreport import pipeline
from crmreport.config import load_campaign
from crmreport.demo import generate
from crmreport.engine import Connection
from crmreport.features import FEATURE_DOCS
from crmreport.run import Run
from crmreport.tables import ASSIGNMENTS, CATALOGUE, FEATURES, Table, made_by

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    data = tmp_path_factory.mktemp("demo-data")
    generate(data, customers=1500)
    return pipeline.prepare(load_campaign(ROOT / "campaigns" / "demo.yaml", data_dir=data))


def _actual(con: Connection, table: Table) -> dict[str, str]:
    rows = con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                       "WHERE table_name = ? ORDER BY column_index", [table.name]).fetchall()
    return {name: kind for name, kind in rows}


def _spelled(con: Connection, columns: dict[str, str]) -> dict[str, str]:
    """Declared types as DuckDB spells them (TIMESTAMPTZ is TIMESTAMP WITH TIME ZONE)."""
    return {name: con.execute(f"SELECT typeof(CAST(NULL AS {kind}))").fetchall()[0][0]
            for name, kind in columns.items()}


def _declared(run: Run, table: Table) -> dict[str, str]:
    return run.assigned.columns if table is ASSIGNMENTS else dict(table.columns)


@pytest.mark.parametrize("table", [t for t in CATALOGUE if t.kept], ids=lambda t: t.name)
def test_every_kept_table_has_exactly_its_declared_columns(run: Run, table: Table) -> None:
    assert _actual(run.con, table) == _spelled(run.con, _declared(run, table))


def test_released_tables_are_gone(run: Run) -> None:
    for table in (t for t in CATALOGUE if not t.kept):
        assert _actual(run.con, table) == {}, table.name


def test_assignments_carry_every_offer_in_rule_order(run: Run) -> None:
    offers = [offer.id for offer, _ in run.rules.offers]
    assert offers and set(offers) == {o.id for o in run.loaded.config.offers}
    extra = [c for c in run.assigned.columns if c not in FEATURES.columns]
    assert extra == ([f"eligible:{o}" for o in offers] + [f"value:{o}" for o in offers]
                     + ["segment", "offer"])


def test_features_are_the_documented_ones() -> None:
    assert set(FEATURES.columns) == set(FEATURE_DOCS)


@pytest.mark.parametrize(("stage", "handle"), [
    ("identify", "identified"), ("features", "featured"), ("rules", "assigned"),
    ("interact", "planned"),
])
def test_handles_name_what_the_catalogue_says_each_stage_makes(
    run: Run, stage: str, handle: str
) -> None:
    made = getattr(run, handle).tables
    assert [t.name for t in made] == [t.name for t in made_by(stage)]


def test_nothing_else_is_left_behind(run: Run) -> None:
    """Working tables of a stage are dropped: only catalogue tables remain in the run."""
    left = {r[0] for r in run.con.execute(
        "SELECT table_name FROM duckdb_tables() UNION ALL "
        "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert left == {t.name for t in run.tables}
