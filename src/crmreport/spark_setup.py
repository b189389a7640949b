"""What ``engine: spark`` needs on this machine, checked before any data is read: pyspark
(the ``spark`` extra), and Java for a JVM of our own, or the Connect client's libraries for
a Spark Connect server (``sc://``), which runs the JVM elsewhere.

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
CONNECT_EXTRA = "pip install 'pyspark[connect]==<the server's Spark version>'"
# The Spark Connect client's own dependencies, beyond pandas and pyarrow (pyspark[connect]).
CONNECT_MODULES = ("grpc", "grpc_status", "google.rpc")


def is_connect(master: str) -> bool:
    """A Spark Connect server's URL: the session is a client and needs no local JVM."""
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
        absent = [m for m in CONNECT_MODULES if not _importable(m)]
        return [(f"spark needs the Spark Connect client, which is incomplete "
                 f"({', '.join(absent)} missing)",
                 CONNECT_EXTRA)] if absent else []
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
