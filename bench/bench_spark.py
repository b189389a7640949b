"""`crmreport plan` on DuckDB against Spark local[2], on the same data on this machine.

    python bench/bench_spark.py                                   # /work/bench-data/plan-20m
    python bench/bench_spark.py --data /work/bench-data/plan-200k --repeat 3
    python bench/bench_spark.py --engines duckdb       # one engine alone
    python bench/bench_spark.py --engines duckdb,spark,connect --data DIR --campaign FILE

Engine ``connect`` is Spark over Spark Connect: a local Connect server (tests/spark_server.py)
running Spark at ``--master`` is started once before the runs, as a real server runs before
its clients, and each run is `crmreport plan --spark-master sc://...`; its figures add the
server's CPU time during the run (from /proc) and its memory to crmreport's.

Each run is a fresh `crmreport plan <demo campaign> --data-dir DATA --json --engine E`
process, the engines alternating (duckdb, spark, duckdb, ...), so both see the same cache and
load. Prints per engine the median and range of the wall time, of the CPU time of the reaped
children (getrusage: crmreport's own; Spark's JVM counts only if crmreport waits for it, which
`/usr/bin/time` suggests it does not, so this undercounts Spark) and of the peak memory of the
process tree (crmreport and, for Spark, its
JVM: the sum of their RSS, sampled from /proc every 0.1 s), and the load average before,
after each run and after all. The engines' plans must print the same
counts: the bench stops if they differ.

Spark is there for data that outgrows one machine; on one machine it is not expected to be
faster than DuckDB (the JVM's start and Spark's scheduling come on top of the same work).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = ROOT / "campaigns" / "demo.yaml"
DEFAULT_DATA = Path("/work/bench-data/plan-20m")
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Bytes resident in ``root`` and all its descendants now (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text()
        except OSError:  # ended meanwhile
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # the name may hold spaces
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = int(statm.split()[1]) * PAGE
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def run_plan(engine: str, campaign: Path, data: Path, master: str, driver_memory: str,
             server: int | None = None) -> tuple[float, float, int, str]:
    """One `crmreport plan` process: wall seconds, CPU seconds of the reaped children (user
    and system) and of the ``server`` process, peak RSS of both process trees in bytes, its
    stdout."""
    command = [str(Path(sys.executable).with_name("crmreport")), "--quiet", "plan",
               str(campaign), "--data-dir", str(data), "--json", "--engine", engine]
    if engine == "spark":
        command += ["--spark-master", master]
    # local mode runs the executors inside the driver's JVM: its heap is all Spark gets
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": f"--driver-memory {driver_memory} pyspark-shell"}
    peak = 0
    cpu_before = cpu_of_children() + cpu_of(server)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.1):
            peak = max(peak, tree_rss(process.pid) + (tree_rss(server) if server else 0))

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    cpu = cpu_of_children() + cpu_of(server) - cpu_before
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"{engine}: crmreport plan failed ({process.returncode}):\n{err[-3000:]}")
    return seconds, cpu, peak, out


def cpu_of_children() -> float:
    """CPU seconds (user and system) of the reaped descendants of this process."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def cpu_of(pid: int | None) -> float:
    """CPU seconds (user and system) a running process has used so far (0: none)."""
    if pid is None:
        return 0.0
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spark_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyspark")
    except PackageNotFoundError:
        return "(pyspark not installed)"


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="demo-format data (bench/bench_plan.py generates it)")
    parser.add_argument("--campaign", type=Path, default=CAMPAIGN,
                        help="the campaign to plan (default: the demo's)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g", help="the Spark JVM's heap")
    parser.add_argument("--engines", default="duckdb,spark",
                        help="comma-separated, in order: duckdb, spark, connect")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        server = (stack.enter_context(started_server(args.master, args.driver_memory))
                  if "connect" in args.engines.split(",") else None)
        bench(args, server)


@contextlib.contextmanager
def started_server(master: str, driver_memory: str) -> Iterator[Any]:
    sys.path.insert(0, str(ROOT))
    from tests.spark_server import connect_server

    start = time.perf_counter()
    with connect_server(master, driver_memory) as server:
        print(f"Spark Connect server at {server.url} started in "
              f"{time.perf_counter() - start:.1f} s (load {load()})")
        yield server


def bench(args: argparse.Namespace, server: Any) -> None:
    if not (args.data / "orders.csv").is_file():
        sys.exit(f"{args.data} holds no orders.csv: generate it with bench/bench_plan.py "
                 "--data DIR --customers N, or pass --data")
    orders = sum(1 for _ in (args.data / "orders.csv").open("rb")) - 1
    print(f"plan {args.campaign.name} on {args.data} ({orders:,} order rows), "
          f"{args.repeat} runs per engine, "
          f"alternating; spark {spark_version()} master {args.master}, driver memory "
          f"{args.driver_memory}")
    print(f"load average before: {load()}")
    seen: dict[str, list[tuple[float, float, int]]] = {e: [] for e in args.engines.split(",")}
    printed: dict[str, str] = {}
    for _ in range(args.repeat):
        for engine in seen:
            connect = engine == "connect"
            seconds, cpu, peak, out = run_plan(
                "spark" if connect else engine, args.campaign, args.data,
                server.url if connect else args.master, args.driver_memory,
                server.pid if connect else None)
            seen[engine].append((seconds, cpu, peak))
            print(f"  {engine:<7} {seconds:8.1f} s  CPU {cpu:8.1f} s  peak tree RSS "
                  f"{peak / 2**20:8,.0f} MB  (load {load()})", flush=True)
            if printed.setdefault(engine, out) != out:
                sys.exit(f"{engine}: the plan changed between runs")
    if len(set(printed.values())) > 1:
        sys.exit("the engines' plans differ: see tests/test_engine_parity.py")
    print(f"load average after: {load()}")
    for engine, runs in seen.items():
        times, cpus, peaks = ([r[0] for r in runs], [r[1] for r in runs],
                              [r[2] / 2**20 for r in runs])
        print(f"{engine:<7} wall {statistics.median(times):8.1f} s "
              f"({min(times):.1f}-{max(times):.1f})  CPU {statistics.median(cpus):8.1f} s "
              f"({min(cpus):.1f}-{max(cpus):.1f})  peak RSS {statistics.median(peaks):,.0f} MB "
              f"({min(peaks):,.0f}-{max(peaks):,.0f})")
    if len(printed) > 1:
        print("the plans printed are identical")


if __name__ == "__main__":
    main()
