"""Letters: crmreport's render_letters against bare WeasyPrint laying out the same HTML.

    python bench/bench_letters.py                   # 1,000 letters, 3 runs of each
    python bench/bench_letters.py --letters 50000 --runs 1 --skip-bare
    python bench/bench_letters.py --merge 2000,10000,50000   # the merge's memory alone

Each run is a fresh child process (so its peak memory is its own), the two alternating:
``crmreport`` renders N generated recipients with render_letters (templates in this
process, layout in worker processes, merge); ``bare`` lays out the very HTML documents
crmreport's batches hold (composed beforehand, not timed) with ``HTML(string).render()
.write_pdf()``, one document per batch, one after the other in one process. Wall times are
of the rendering alone. Letters per second per core divides by the cores each used (bare:
1; crmreport: its worker processes). Letters per CPU second (the child's and its workers'
user + system time, from getrusage, less the CPU time of the thread reading /proc) does not
depend on what else the shared machine runs.
Peak RSS is the OS's: ru_maxrss of the child itself, and VmHWM of its largest worker
(workers fork from a fork server, so they are read in /proc, as is their CPU time; a worker's
last 0.5 s may be missed).
The machine is shared: compare the two within a run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crmreport.config.models import Sender  # noqa: E402
from crmreport.personalise import letters as L  # noqa: E402
from crmreport.personalise.templating import make_environment  # noqa: E402

SETTINGS = L.LetterSettings(
    layout="din5008b", return_address="Demo Shop GmbH · Beispielweg 1 · 01067 Dresden",
    date=dt.date(2026, 3, 1),
    sender=Sender(company="Demo Shop GmbH", street="Beispielweg 1", postal_code="01067",
                  city="Dresden", country="DE", register="Amtsgericht Dresden, HRB 00000",
                  managing_director="Erika Beispiel"))
_PLACES = [("DE", "01067", "Dresden", "de_DE"), ("DE", "80331", "München", "de_DE"),
           ("AT", "1010", "Wien", "de_AT"), ("CH", "8001", "Zürich", "de_CH"),
           ("GB", "SW1A 1AA", "London", "en_GB"), ("IE", "D02 X285", "Dublin", "en_IE")]


def recipients(count: int) -> list[dict[str, Any]]:
    """Fictitious recipients, deterministic, spread over countries and both templates."""
    people = []
    for n in range(count):
        country, postcode, city, locale = _PLACES[n % len(_PLACES)]
        people.append({
            "customer_id": f"B{n:07d}", "salutation": ("Frau", "Herr", "")[n % 3],
            "first_name": f"Vorname{n % 97}", "last_name": f"Nachname{n % 89}",
            "street": f"Beispielstraße {n % 200 + 1}", "postal_code": postcode, "city": city,
            "country": country, "locale": locale, "template": ("vip", "winback")[n % 2],
            "monetary": Decimal(n % 1000) + Decimal("0.50"), "currency": "EUR",
            "coupon": f"CODE-{n:07d}"})
    return people


def child(kind: str, count: int, batch: int, out: Path) -> dict[str, Any]:
    env = make_environment(ROOT / "templates")
    people = recipients(count)
    if kind == "crmreport":
        cpu_before = _cpu()
        watcher = _Descendants()
        start = time.perf_counter()
        result = L.render_letters(people, env, SETTINGS, out / "letters.pdf", batch_size=batch,
                                  on_progress=_Progress(count, start, watcher))
        seconds = time.perf_counter() - start
        watcher.stop()
        workers = min(len(os.sched_getaffinity(0)), -(-count // batch))
        printed = len(result.printed)
    else:
        from weasyprint import HTML

        ordered = sorted(people, key=L.print_order)
        composer = L._Composer(env, SETTINGS, ordered)
        jobs = list(composer.jobs(ordered, L.LetterBatch(), batch, out, None))
        documents = [L._compose(job.styles, list(job.letters)) for job in jobs]
        del jobs, composer, ordered
        cpu_before = _cpu()
        start = time.perf_counter()
        for number, html in enumerate(documents):
            HTML(string=html).render().write_pdf(out / f"{number}.pdf")
        seconds = time.perf_counter() - start
        workers, printed = 1, count
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime - cpu_before
    worker_rss = kids.ru_maxrss / 1024
    if kind == "crmreport":  # workers fork from a fork server: grandchildren, read in /proc
        cpu += sum(watcher.cpu.values()) - watcher.own_cpu
        worker_rss = max([worker_rss, *watcher.peak_mb.values()])
    return {"seconds": seconds, "cpu_seconds": cpu, "workers": workers, "printed": printed,
            "rss_mb": own.ru_maxrss / 1024, "worker_rss_mb": worker_rss,
            "pdf_mb": sum(p.stat().st_size for p in out.iterdir()) / 1e6}


class _Descendants:
    """CPU seconds and peak RSS (VmHWM) of this process's descendants, read from /proc every
    0.5 s while they live (getrusage sees only children it waited for)."""

    def __init__(self) -> None:
        self.cpu: dict[int, float] = {}
        self.peak_mb: dict[int, float] = {}
        self.own_cpu = 0.0  # CPU seconds of this watching thread, set when it stops
        self._done = threading.Event()
        self._tick = os.sysconf("SC_CLK_TCK")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(0.5):
            for pid in self._descendants():
                self._sample(pid)
        # Reading /proc costs ~10 ms a scan, ~2 % of a core: the measuring, not crmreport's.
        self.own_cpu = time.thread_time()

    def _descendants(self) -> set[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, frontier = set(), {os.getpid()}
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier}
            found |= frontier
        return found

    def _sample(self, pid: int) -> None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self._tick  # utime + stime
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                self.peak_mb[pid] = int(line.split()[1]) / 1024


class _Progress:
    """Every 5 % of the letters composed, a line on stderr: a long run can be watched (and
    its memory seen growing or not) before it ends."""

    def __init__(self, count: int, start: float, watcher: _Descendants):
        self.count, self.start, self.watcher = count, start, watcher
        self.done = 0
        self.step = max(count // 20, 1)

    def __call__(self, letters: int) -> None:
        self.done += letters
        if self.done % self.step == 0:
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            worker = max(self.watcher.peak_mb.values(), default=0.0)
            print(f"  {self.done:,} letters composed, {time.perf_counter() - self.start:.0f} s, "
                  f"peak RSS main {own:.0f} MB, largest worker {worker:.0f} MB",
                  file=sys.stderr, flush=True)


def _cpu() -> float:
    """CPU seconds used so far by this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def merge_child(kind: str, pages: int, out: Path) -> dict[str, Any]:
    """Merge ``pages`` pages (copies of out/batch.pdf) the way ``kind`` does: pypdf's
    PdfWriter (the former merge) or crmreport's streamed concatenation."""
    from pypdf import PdfReader, PdfWriter

    from crmreport.personalise.pdfstream import concatenate

    batch_pdf = out / "batch.pdf"
    parts = [batch_pdf] * (pages // len(PdfReader(batch_pdf).pages))
    cpu_before = _cpu()
    if kind == "merge-pypdf":
        writer = PdfWriter()
        for part in parts:
            for page in PdfReader(part).pages:
                writer.add_page(page)
        with (out / "merged.pdf").open("wb") as handle:
            writer.write(handle)
    else:
        concatenate(parts, out / "merged.pdf")
    return {"cpu_seconds": _cpu() - cpu_before,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "pdf_mb": (out / "merged.pdf").stat().st_size / 1e6}


def merges(page_counts: list[int], runs: int) -> None:
    """Peak RSS of the merge alone against the page count, the two merges alternating."""
    from weasyprint import HTML

    env = make_environment(ROOT / "templates")
    ordered = sorted(recipients(L.BATCH_SIZE), key=L.print_order)
    job = next(L._Composer(env, SETTINGS, ordered).jobs(
        ordered, L.LetterBatch(), L.BATCH_SIZE, Path(), None))
    kinds = ["merge-pypdf", "merge-stream"]
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as tmp:
        HTML(string=L._compose(job.styles, list(job.letters))).write_pdf(Path(tmp) / "batch.pdf")
        for pages in page_counts:
            results: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
            for run in range(runs):
                for kind in kinds if run % 2 == 0 else kinds[::-1]:
                    done = subprocess.run(
                        [sys.executable, __file__, "--child", kind, "--letters", str(pages),
                         "--out", tmp], stdout=subprocess.PIPE, text=True, check=True)
                    results[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
            for kind, got in results.items():
                print(f"{pages:7,} pages {kind:12} peak RSS median "
                      f"{statistics.median(r['rss_mb'] for r in got):5.0f} MB "
                      f"(range {min(r['rss_mb'] for r in got):.0f}-"
                      f"{max(r['rss_mb'] for r in got):.0f}), CPU median "
                      f"{statistics.median(r['cpu_seconds'] for r in got):5.1f} s, "
                      f"PDF {got[0]['pdf_mb']:.1f} MB", flush=True)


def run_child(kind: str, count: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-letters-") as tmp:
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--letters", str(count),
             "--batch", str(batch), "--out", tmp], stdout=subprocess.PIPE, text=True,
            check=True)  # its stderr (progress) goes straight to ours
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=L.BATCH_SIZE)
    parser.add_argument("--skip-bare", action="store_true", help="time crmreport alone")
    parser.add_argument("--merge", metavar="PAGES,...",
                        help="instead: peak memory of the merge alone, pypdf's PdfWriter "
                             "against crmreport's, for these page counts")
    parser.add_argument("--child", choices=["crmreport", "bare", "merge-pypdf", "merge-stream"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child in ("merge-pypdf", "merge-stream"):
        print(json.dumps(merge_child(args.child, args.letters, args.out)))
        return
    if args.child:
        print(json.dumps(child(args.child, args.letters, args.batch, args.out)))
        return
    if args.merge:
        merges([int(pages) for pages in args.merge.split(",")], args.runs)
        return
    kinds = ["crmreport"] if args.skip_bare else ["crmreport", "bare"]
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for run in range(args.runs):
        for kind in kinds if run % 2 == 0 else kinds[::-1]:  # alternate who goes first
            results[kind].append(run_child(kind, args.letters, args.batch))
            print(f"run {run + 1} {kind}: {results[kind][-1]}", file=sys.stderr)
    print(f"{args.letters:,} letters, batches of {args.batch}, {args.runs} runs, "
          f"{os.cpu_count()} cores (shared)")
    per_core, per_cpu = {}, {}
    for kind, runs in results.items():
        rates = [r["printed"] / r["seconds"] for r in runs]
        per_core[kind] = statistics.median(rates) / runs[0]["workers"]
        per_cpu[kind] = statistics.median(r["printed"] / r["cpu_seconds"] for r in runs)
        print(f"{kind:9} letters/s median {statistics.median(rates):6.1f} "
              f"(range {min(rates):.1f}-{max(rates):.1f}), per core {per_core[kind]:5.1f}, "
              f"per CPU second {per_cpu[kind]:5.1f}, "
              f"wall median {statistics.median(r['seconds'] for r in runs):7.1f} s, "
              f"peak RSS {max(r['rss_mb'] for r in runs):6.0f} MB, "
              f"largest worker {max(r['worker_rss_mb'] for r in runs):6.0f} MB, "
              f"PDF {runs[0]['pdf_mb']:.1f} MB")
    if "bare" in per_core:
        ratio = per_core["crmreport"] / per_core["bare"]
        print(f"crmreport / bare WeasyPrint: per core (wall) {ratio:.2f}, "
              f"per CPU second {per_cpu['crmreport'] / per_cpu['bare']:.2f}")


if __name__ == "__main__":
    main()
