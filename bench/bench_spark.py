"""`crmreport plan` on DuckDB against Spark local[2], on the same data on this machine.

    python bench/bench_spark.py                                   # /work/bench-data/plan-20m
    python bench/bench_spark.py --data /work/bench-data/plan-200k --repeat 3
    python bench/bench_spark.py --engines duckdb       # one engine alone

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
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

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


def run_plan(engine: str, data: Path, master: str,
             driver_memory: str) -> tuple[float, float, int, str]:
    """One `crmreport plan` process: wall seconds, CPU seconds of the reaped children (user
    and system), peak tree RSS in bytes, its stdout."""
    command = [str(Path(sys.executable).with_name("crmreport")), "--quiet", "plan",
               str(CAMPAIGN), "--data-dir", str(data), "--json", "--engine", engine]
    if engine == "spark":
        command += ["--spark-master", master]
    # local mode runs the executors inside the driver's JVM: its heap is all Spark gets
    env = {**os.environ, "PYSPARK_SUBMIT_ARGS": f"--driver-memory {driver_memory} pyspark-shell"}
    peak = 0
    cpu_before = cpu_of_children()
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.1):
            peak = max(peak, tree_rss(process.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    cpu = cpu_of_children() - cpu_before
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"{engine}: crmreport plan failed ({process.returncode}):\n{err[-3000:]}")
    return seconds, cpu, peak, out


def cpu_of_children() -> float:
    """CPU seconds (user and system) of the reaped descendants of this process."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g", help="the Spark JVM's heap")
    parser.add_argument("--engines", default="duckdb,spark", help="comma-separated, in order")
    args = parser.parse_args()
    if not (args.data / "orders.csv").is_file():
        sys.exit(f"{args.data} holds no orders.csv: generate it with bench/bench_plan.py "
                 "--data DIR --customers N, or pass --data")
    orders = sum(1 for _ in (args.data / "orders.csv").open("rb")) - 1
    print(f"plan on {args.data} ({orders:,} order rows), {args.repeat} runs per engine, "
          f"alternating; spark {spark_version()} master {args.master}, driver memory "
          f"{args.driver_memory}")
    print(f"load average before: {load()}")
    seen: dict[str, list[tuple[float, float, int]]] = {e: [] for e in args.engines.split(",")}
    printed: dict[str, str] = {}
    for _ in range(args.repeat):
        for engine in seen:
            seconds, cpu, peak, out = run_plan(engine, args.data, args.master,
                                               args.driver_memory)
            seen[engine].append((seconds, cpu, peak))
            print(f"  {engine:<6} {seconds:8.1f} s  CPU {cpu:8.1f} s  peak tree RSS "
                  f"{peak / 2**20:8,.0f} MB  (load {load()})", flush=True)
            if printed.setdefault(engine, out) != out:
                sys.exit(f"{engine}: the plan changed between runs")
    if len(set(printed.values())) > 1:
        sys.exit("the engines' plans differ: see tests/test_engine_parity.py")
    print(f"load average after: {load()}")
    for engine, runs in seen.items():
        times, cpus, peaks = ([r[0] for r in runs], [r[1] for r in runs],
                              [r[2] / 2**20 for r in runs])
        print(f"{engine:<6} wall {statistics.median(times):8.1f} s "
              f"({min(times):.1f}-{max(times):.1f})  CPU {statistics.median(cpus):8.1f} s "
              f"({min(cpus):.1f}-{max(cpus):.1f})  peak RSS {statistics.median(peaks):,.0f} MB "
              f"({min(peaks):,.0f}-{max(peaks):,.0f})")
    if len(printed) > 1:
        print("the plans printed are identical")


if __name__ == "__main__":
    main()
