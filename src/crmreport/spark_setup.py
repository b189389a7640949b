"""What ``engine: spark`` needs on this machine, checked before any data is read: pyspark
(the ``spark`` extra) and, for a Spark it starts itself (``local[N]``) or drives on a
cluster, Java for the driver's JVM. A Spark Connect server (``sc://host:port``) runs the JVM
itself: the client needs pyspark 4 with its Connect libraries, and no Java.

pyspark is not imported here: a missing piece is found with importlib's finder, the installed
packages' metadata and the PATH, so the check starts no JVM and the command line stays light.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

from crmreport.errors import ConfigError, Problem

SPARK_EXTRA = "pip install 'crmreport[spark]'"
JAVA_SINCE = 17  # Spark 4's JVM
INSTALL_JAVA = ("install Java 17, e.g. apt-get install openjdk-17-jre-headless "
                "(default-jre-headless on Debian 12), or set JAVA_HOME to a Java 17 "
                "installation")
# Spark Connect 3.5 has no checkpoints, with which the adapter keeps each table it makes
# (caching instead kept every table's lineage, which grew until planning outlasted the run).
CONNECT_SINCE = 4
# The Spark Connect client's libraries (pyspark's `connect` extra), by the module each gives.
CONNECT_MODULES = {"grpc": "grpcio", "grpc_status": "grpcio-status",
                   "google.rpc": "googleapis-common-protos"}


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
        return _missing_for_connect()
    found = java()
    if found is None:
        where = "JAVA_HOME/bin/java" if os.environ.get("JAVA_HOME") else "java on the PATH"
        return [(f"spark needs Java, which is missing ({where} not found)", INSTALL_JAVA)]
    major = java_major(_java_banner(found))
    if major is None or major < JAVA_SINCE:
        which = "of unknown version" if major is None else f"Java {major}"
        return [(f"spark needs Java {JAVA_SINCE} or later, and {found} is {which}",
                 INSTALL_JAVA)]
    return []


def _java_banner(java_path: str) -> str:
    """What ``java -version`` prints (to stderr): a JVM that starts and stops at once."""
    try:
        done = subprocess.run([java_path, "-version"], capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stderr + done.stdout


def java_major(banner: str) -> int | None:
    """The major version in ``java -version``'s output: ``"1.8.0_392"`` is 8 (the old
    numbering), ``"17.0.15"`` 17, ``"21"`` 21; None where it names no version."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', banner)
    if found is None:
        return None
    major = int(found[1])
    return int(found[2] or 0) if major == 1 else major


def _missing_for_connect() -> list[tuple[str, str]]:
    """pyspark 4 and its Connect client libraries; Java is the server's business."""
    version = pyspark_version()
    install = (f"{SPARK_EXTRA} (pyspark 4.0 with its Connect client), or pip install "
               "'pyspark[connect]==X.Y.Z' for a server of Spark X.Y.Z")
    if version is not None and int(version.split(".")[0]) < CONNECT_SINCE:
        return [(f"spark over Spark Connect (sc://) needs pyspark 4, and pyspark {version} is "
                 "installed (Spark Connect 3.5 has no checkpoints, which crmreport needs)",
                 install)]
    absent = sorted(package for module, package in CONNECT_MODULES.items()
                    if not _importable(module))
    if absent:
        return [(f"spark over Spark Connect (sc://) needs the Connect client, which is "
                 f"missing ({', '.join(absent)} not installed)", install)]
    return []


def pyspark_version() -> str | None:
    """The installed pyspark's version, from its metadata (None: no metadata, e.g. pyspark
    on the PYTHONPATH of a Spark download)."""
    try:
        return importlib.metadata.version("pyspark")
    except importlib.metadata.PackageNotFoundError:
        return None


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
