import json
import subprocess
import sys
from pathlib import Path

import pytest

from crmreport.config import load_campaign, schema, with_engine
from crmreport.config.models import SparkSettings
from crmreport.errors import ConfigError


def test_loading_the_models_prints_no_warning() -> None:
    """pydantic's warning about Sender.register would open every command's output."""
    done = subprocess.run([sys.executable, "-W", "error", "-c", "import crmreport.config.models"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stderr == ""


ENGINE_CAMPAIGN = """\
campaign: spark-test
as_of: 2026-03-01
data: {customers: {path: c.csv}, orders: {path: o.csv}}
segments: [{id: all, when: "TRUE"}]
policy: {seed: s}
channels: {}
"""


def _campaign(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(ENGINE_CAMPAIGN + extra, encoding="utf-8")
    return path


def test_the_engine_is_duckdb_unless_the_campaign_says_spark(tmp_path: Path) -> None:
    assert load_campaign(_campaign(tmp_path)).config.engine == "duckdb"
    config = load_campaign(_campaign(tmp_path, "engine: spark\nspark:\n  master: "
                                               "spark://spark.example:7077\n  conf: "
                                               "{spark.sql.shuffle.partitions: '8'}\n")).config
    assert config.engine == "spark"
    assert config.spark == SparkSettings(master="spark://spark.example:7077",
                                         conf={"spark.sql.shuffle.partitions": "8"})
    assert SparkSettings().master == "local[2]"


def test_an_unknown_engine_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_campaign(_campaign(tmp_path, "engine: postgres\n"))
    assert "campaign.yaml:7" in str(raised.value) and "engine" in str(raised.value)


def test_the_command_line_engine_and_master_replace_the_campaigns(tmp_path: Path) -> None:
    loaded = load_campaign(_campaign(tmp_path, "engine: spark\nspark: {conf: {a: b}}\n"))
    assert with_engine(loaded).config == loaded.config
    assert with_engine(loaded, "duckdb").config.engine == "duckdb"
    moved = with_engine(loaded, master="spark://cluster:7077").config
    assert moved.engine == "spark"
    assert moved.spark == SparkSettings(master="spark://cluster:7077", conf={"a": "b"})
    assert with_engine(load_campaign(_campaign(tmp_path)), "spark", "local[4]").config.spark \
        == SparkSettings(master="local[4]")


@pytest.mark.parametrize("master", ["local[2]", " "])
def test_a_master_without_spark_or_an_empty_one_is_refused(tmp_path: Path, master: str) -> None:
    loaded = load_campaign(_campaign(tmp_path))
    with pytest.raises(ConfigError, match="--spark-master"):
        with_engine(loaded, "duckdb" if master.strip() else "spark", master)


def test_the_schema_offers_both_engines() -> None:
    properties = json.loads(schema())["properties"]
    assert properties["engine"]["enum"] == ["duckdb", "spark"]
    assert properties["engine"]["default"] == "duckdb"
