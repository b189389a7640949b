"""CPU and peak memory of the report process and of its model worker, which bench_report.py
cannot tell apart (wait4's ru_maxrss is the largest of the process and its reaped children,
not their sum).

    python bench/report_worker.py --data <demo data>

Runs the README's `crmreport report` once in this process, then reads the worker's CPU time
(/proc/<pid>/stat) and peak resident set (VmHWM in /proc/<pid>/status) while it is still
alive, and this process's own from getrusage.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

from crmreport import model_worker
from crmreport.cli import main as crmreport

ROOT = Path(__file__).resolve().parents[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _peak_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "out" / "demo" / "data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            crmreport(["--quiet", "report", str(ROOT / "campaigns" / "demo.yaml"),
                       "--data-dir", str(args.data),
                       "--definition", str(ROOT / "reports" / "weekly.yaml"),
                       "--out", str(Path(tmp) / "reports"), "--period", "week",
                       "--json", str(Path(tmp) / "summary.json"),
                       "--email", str(Path(tmp) / "summary.eml")])
        except SystemExit as stop:
            if stop.code:
                raise
    worker = model_worker._worker
    if worker is None:
        raise SystemExit("the report started no model worker")
    (pid,) = worker._processes  # one worker
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(f"report process: CPU {own.ru_utime + own.ru_stime:.2f} s, "
          f"peak RSS {own.ru_maxrss / 1024:.0f} MB")  # ru_maxrss: kB on Linux
    print(f"model worker:   CPU {_cpu_seconds(pid):.2f} s, "
          f"peak RSS {_peak_kb(pid) / 1024:.0f} MB")


if __name__ == "__main__":
    main()
