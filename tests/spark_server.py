"""A local Spark Connect server for the tests (and bench/bench_spark.py): the Spark that pyspark
ships, started with spark-submit as a subprocess listening on a free port of 127.0.0.1.

No fixed port, so two runs at once each have their own server. The server is stopped with its
process group when the block ends, and it gets SIGTERM if the process that started it dies
first (Linux's parent-death signal), so no JVM outlives its run.

The server runs in a time zone other than UTC (its JVM's and its processes'), as a server set
up by someone else may: the client's own session settings must make the results UTC's.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
STARTED = "Spark Connect server started"  # the server's log line once it listens
START_TIMEOUT = 300  # seconds; a JVM's start takes 15 s on an idle 2-core machine
PR_SET_PDEATHSIG = 1
SERVER_ZONE = "America/New_York"
# No web UI; few shuffle partitions (a runtime default each session may change), for speed on
# a small machine only.
SERVER_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.extraJavaOptions": f"-Duser.timezone={SERVER_ZONE}",
}
BIND_FAILED = ("BindException", "Address already in use")  # in the log: the port was taken


@dataclasses.dataclass(frozen=True)
class Server:
    url: str  # sc://127.0.0.1:PORT
    pid: int  # its JVM's


@contextlib.contextmanager
def connect_server(master: str = "local[2]", driver_memory: str = "1g") -> Iterator[Server]:
    """A Spark Connect server running Spark at ``master``, until the block ends."""
    with tempfile.TemporaryDirectory(prefix="spark-connect-") as folder:
        log = Path(folder) / "server.log"
        process, port = _start(master, driver_memory, SERVER_CONF, log)
        try:
            yield Server(f"sc://127.0.0.1:{port}", process.pid)
        finally:
            _stop(process)


def _start(master: str, driver_memory: str, conf: dict[str, str], log: Path
           ) -> tuple[subprocess.Popen[bytes], int]:
    """The server process and its port. A port found free may be taken before the server
    binds it: then the server stops, and another port is tried; any other failure (or a
    start that outlasts START_TIMEOUT) ends the tries with the log's end."""
    import pyspark

    spark_submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    for _ in range(3):
        port = _free_port()
        settings = {**conf, "spark.connect.grpc.binding.address": "127.0.0.1",
                    "spark.connect.grpc.binding.port": str(port)}
        command = [str(spark_submit), "--class", SERVER_CLASS, "--master", master,
                   "--driver-memory", driver_memory, "--name", "crmreport tests",
                   *[part for key, value in settings.items()
                     for part in ("--conf", f"{key}={value}")], "spark-internal"]
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True,
                                       preexec_fn=_die_with_parent,
                                       env={**os.environ, "TZ": SERVER_ZONE})
        if _listening(process, port, log):
            return process, port
        _stop(process)
        if not any(sign in log.read_text(encoding="utf-8", errors="replace")
                   for sign in BIND_FAILED):
            break
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    raise RuntimeError(f"the Spark Connect server did not start; its log ends:\n{tail}")


def _die_with_parent() -> None:
    """In the child before it runs spark-submit, which execs the JVM in the same process."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(process: subprocess.Popen[bytes], port: int, log: Path) -> bool:
    """Whether the server came up on ``port``: its log says so and the port answers."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        if STARTED in log.read_text(encoding="utf-8", errors="replace"):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return True
        time.sleep(0.5)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The server's process group ended: asked first, killed after 30 seconds."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sent)
        try:
            process.wait(timeout=30)
            return
        except subprocess.TimeoutExpired:
            continue
