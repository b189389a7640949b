"""What ``engine: spark`` needs on this machine, checked before any data is read: pyspark
(the ``spark`` extra) and Java for the driver's JVM; and a master it can work with (not a
Spark Connect server, see ``CONNECT_REFUSED``).

pyspark is not imported here: a missing piece is found with importlib's finder and the PATH,
so the check starts no JVM and the command line stays light.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from crmreport.errors import ConfigError, Problem

SPARK_EXTRA = "pip install 'crmreport[spark]'"
# Each table the adapter makes is kept with a local checkpoint, which cuts its lineage; Spark
# Connect 3.5 has no checkpoints, and caching instead keeps every table's lineage, which grows
# with each statement until planning one takes longer than the run (tried on the tiny shop).
CONNECT_REFUSED = (
    "engine spark cannot run over Spark Connect (sc://): Spark Connect 3.5 has no "
    "checkpoints, which crmreport needs to keep the tables it makes",
    "run crmreport on the cluster's driver with spark-submit and --spark-master "
    "spark://host:7077 (README, 'Running on Spark'), or use engine duckdb")


def is_connect(master: str) -> bool:
    """A Spark Connect server's URL."""
    return master.startswith("sc://")


def java() -> str | None:
    """The java that pyspark would start: JAVA_HOME's if set, else the first on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if candidate.is_file() else None
    return shutil.which("java")


def missing(master: str) -> list[tuple[str, str]]:
    """What is missing for a Spark session at ``master``: (what, how to install it)."""
    if not _importable("pyspark"):
        return [("spark needs pyspark, which is not installed",
                 f"{SPARK_EXTRA}, or choose engine duckdb")]
    if is_connect(master):
        return [CONNECT_REFUSED]
    if java() is None:
        where = "JAVA_HOME/bin/java" if os.environ.get("JAVA_HOME") else "java on the PATH"
        return [(f"spark needs Java, which is missing ({where} not found)",
                 "install Java 17, e.g. apt-get install default-jre-headless, or set "
                 "JAVA_HOME to a Java 17 installation")]
    return []


def require_spark(master: str) -> None:
    """A ConfigError saying what to install when a Spark session at ``master`` cannot start."""
    problems = [Problem("environment", None, "engine", what, fix)
                for what, fix in missing(master)]
    if problems:
        raise ConfigError(problems)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is absent
        return False
