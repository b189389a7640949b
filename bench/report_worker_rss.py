"""Peak memory of the report process and of its model worker, which bench_report.py's figure
(wait4's ru_maxrss: the largest of the process and its reaped children, not their sum) does
not add up.

    python bench/report_worker_rss.py --data <demo data>

Runs the README's `crmreport report` once in this process, then reads the worker's peak
resident set (VmHWM in /proc/<pid>/status) while it is still alive, and this process's own
from getrusage.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

from crmreport import model_worker
from crmreport.cli import main as crmreport

ROOT = Path(__file__).resolve().parents[1]


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
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    print(f"report process peak RSS: {own / 1024:.0f} MB")
    print(f"model worker peak RSS:   {_peak_kb(pid) / 1024:.0f} MB")


if __name__ == "__main__":
    main()
