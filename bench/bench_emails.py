"""crmreport's email writing against a short script with the standard library's legacy MIME
classes, on the same recipients, the same templates and the same rendered content.

    python bench/bench_emails.py                      # 20,000 emails, 3 rounds
    python bench/bench_emails.py --emails 20000 100000 --rounds 3 --workers 2
    python bench/bench_emails.py --emails 100000 --rounds 1 --kinds crmreport
    python bench/bench_emails.py --baseline /tmp/old-checkout   # an earlier crmreport too

Each run is its own process (so its peak RSS comes from the OS: getrusage of the process,
and of its worker processes once they have ended), writing into an empty temporary folder
that is removed after the run; its CPU time (user + system, workers included) comes from
the OS too, so "per CPU second" is the rate one core gives, whatever the load (printed split
into user and system time: creating and writing the files is the kernel's share, and on a
shared disk it varies with everyone's writes; "per user second" leaves it out). The kinds
alternate (A B C, C B A, ...) so a change in the shared machine's load hits all alike; the
median and range of each are printed, and their ratios, for each number of emails.

- crmreport: ``render_emails`` as ``build`` calls it: render text and HTML (sandboxed Jinja2),
  inline the CSS, assemble the MIME bytes, write ``<id>.eml`` and esp.csv; ``--workers``
  processes building emails, the main one among them (default: one per core).
- baseline: ``render_emails`` of another crmreport checkout (``--baseline``: its ``src``), on
  the same recipients and templates: the rate before a change, measured in the same run.
- files: no email at all: as many files of the emails' mean size, each created and written
  by one ``open``, ``write`` and ``close`` in the folder, as crmreport writes its emails. The
  floor any writer of one file per email pays on that file system, mostly the kernel's time.
  One process, whatever ``--workers`` says; its user time is near nothing, so no rate per
  user second is printed for it.
- stdlib: the same rendering through crmreport's templating and css_inline, then
  ``MIMEMultipart('alternative')`` with two ``MIMEText`` parts, ``Header`` and ``formataddr``
  for the headers, ``as_bytes()`` and ``Path.write_bytes``: what a short script would do.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The crmreport measured: this checkout's, or the baseline's (set for its worker processes
# too, which import this module again).
SRC = "BENCH_EMAILS_SRC"
sys.path.insert(0, os.environ.get(SRC) or str(ROOT / "src"))

KINDS = ["crmreport", "stdlib", "baseline", "files"]
# The bench's emails are 4,354 to 4,829 bytes, 4,570 on average (3,000 of them, measured):
# what the kind "files" writes into each file.
FILE_BYTES = 4_570
FIRST = ["Anna", "Jürgen", "Ben", "Zoë", "Mehmet", "Chloé", "Paul", "Grete"]
LAST = ["Müller", "Smith", "Schröder", "O'Neill", "Nguyen", "Weiß", "Brown", "Østergaard"]


def recipients(count: int) -> Iterator[dict[str, Any]]:
    """Demo-like recipients: both languages, every template, coupons, umlauts in names."""
    for i in range(count):
        yield {"customer_id": f"C{i:07d}", "email": f"kunde{i}@example.de",
               "salutation": ("Frau", "Herr", "Mr", "")[i % 4],
               "first_name": FIRST[i % 8], "last_name": LAST[(i // 8) % 8],
               "locale": "en_GB" if i % 3 == 0 else "de_DE",
               "template": ("vip", "winback", "welcome")[i % 3],
               "monetary": Decimal(f"{100 + i % 900}.50"), "currency": "EUR",
               "recency_days": 30 + i % 400, "repeat_orders": i % 2,
               "coupon": f"BACK-{i:08X}", "coupon_valid_until": dt.date(2026, 3, 31),
               "campaign": "spring-2026", "as_of": dt.date(2026, 3, 1),
               "segment": "at_risk", "offer": "winback-15", "variant": "A"}


def _settings() -> Any:
    from crmreport.personalise import EmailSettings
    return EmailSettings(
        sender="Demo Shop <news@shop.example>", reply_to=None,
        unsubscribe_url="https://shop.example/unsubscribe?t={token}",
        unsubscribe_mailto="unsubscribe@shop.example", max_bytes=102_000,
        date=dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC), secret="bench-secret-0123456789")


def run_crmreport(count: int, out: Path, workers: int) -> None:
    from crmreport.personalise import make_environment, render_emails
    env = make_environment(ROOT / "templates", "de_DE")
    batch = render_emails(recipients(count), env, _settings(), out, out.parent / "esp.csv",
                          workers=workers, **_expected(count))
    assert batch.count == count, batch.count


def _expected(count: int) -> dict[str, int]:
    """render_emails's hint of how many recipients come (workers start at once), where the
    crmreport measured takes it (a baseline may be older)."""
    from crmreport.personalise import render_emails
    return {"expected": count} if "expected" in inspect.signature(render_emails).parameters \
        else {}


def run_stdlib(count: int, out: Path, workers: int) -> None:
    from email.header import Header
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    from email.utils import format_datetime, formataddr

    import css_inline

    from crmreport.personalise import TemplateCache, make_environment, render
    from crmreport.personalise.email import unsubscribe_token
    from crmreport.personalise.legal import objection_notice

    settings = _settings()
    cache = TemplateCache(make_environment(ROOT / "templates", "de_DE"), "email")
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    for r in recipients(count):
        url = settings.unsubscribe_url.replace(
            "{token}", unsubscribe_token(settings.secret, r["customer_id"]))
        context = {**r, "shop_url": "https://shop.example/", "sender_name": "Demo Shop",
                   "unsubscribe_url": url,
                   "objection_notice": objection_notice(None, r["locale"])}
        text_t, html_t = cache.get(r, "txt"), cache.get(r, "html")
        message = MIMEMultipart("alternative")
        message["From"] = formataddr(("Demo Shop", "news@shop.example"))
        message["To"] = formataddr((f"{r['first_name']} {r['last_name']}", r["email"]),
                                   charset="utf-8")
        message["Subject"] = Header(render(text_t, context, "subject"), "utf-8")
        message["Date"] = format_datetime(settings.date)
        message["List-Unsubscribe"] = f"<{url}>, <mailto:unsubscribe@shop.example>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.attach(MIMEText(render(text_t, context, "body"), "plain", "utf-8"))
        message.attach(MIMEText(inliner.inline(render(html_t, context)), "html", "utf-8"))
        (out / f"{r['customer_id']}.eml").write_bytes(message.as_bytes())


def run_files(count: int, out: Path, workers: int) -> None:
    data = b"x" * FILE_BYTES
    folder = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(count):
            fd = os.open(f"C{i:07d}.eml", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666,
                         dir_fd=folder)
            os.write(fd, data)
            os.close(fd)
    finally:
        os.close(folder)


RUNS = {"crmreport": run_crmreport, "baseline": run_crmreport, "stdlib": run_stdlib,
        "files": run_files}


def one(kind: str, count: int, workers: int, baseline: Path | None, where: Path | None) -> None:
    """Run one implementation in this process and print its figures as JSON."""
    if kind == "baseline":
        assert baseline is not None, "--baseline names the other checkout"
        os.environ[SRC] = str(baseline / "src")
        sys.path.insert(0, os.environ[SRC])
    base = Path(tempfile.mkdtemp(prefix="crmreport-bench-emails.", dir=where))
    out = base / "emails"
    out.mkdir()
    try:
        user_before, system_before = _cpu_seconds()
        start = time.perf_counter()
        RUNS[kind](count, out, workers)
        seconds = time.perf_counter() - start
        user, system = (after - before for after, before in
                        zip(_cpu_seconds(), (user_before, system_before), strict=True))
        files = len(os.listdir(out))
    finally:
        shutil.rmtree(base)
    print(json.dumps({"seconds": seconds, "cpu_seconds": user + system,
                      "system_seconds": system, "files": files, "load": os.getloadavg()[0],
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "workers_rss_mb":
                          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def _cpu_seconds() -> tuple[float, float]:
    """User and system time of this process and of its ended workers, from the OS."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + workers.ru_utime, own.ru_stime + workers.ru_stime


def compare(count: int, rounds: int, workers: int, kinds: list[str],
            baseline: Path | None, where: Path | None) -> None:
    results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    extra = ["--baseline", str(baseline)] if baseline else []
    extra += ["--dir", str(where)] if where else []
    for round_ in range(rounds):
        for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
            done = subprocess.run(
                [sys.executable, __file__, "--one", kind, "--emails", str(count),
                 "--workers", str(workers), *extra], check=True, capture_output=True,
                text=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            assert figures["files"] == count, figures
            results[kind].append(figures)
            print(f"round {round_ + 1} {kind:9} {count:,} emails in {figures['seconds']:.1f} s: "
                  f"{count / figures['seconds']:8,.0f} emails/s, "
                  f"{count / figures['cpu_seconds']:8,.0f} per CPU second "
                  f"({figures['system_seconds'] / figures['cpu_seconds']:.0%} system"
                  + ("" if kind == "files" else f"; {count / _user(figures):,.0f} per user second")
                  + "), "
                  f"peak RSS {figures['rss_mb']:.0f} MB (workers {figures['workers_rss_mb']:.0f}"
                  f" MB), load {figures['load']:.1f}", flush=True)
    rates = {k: [count / f["seconds"] for f in results[k]] for k in kinds}
    per_cpu = {k: [count / f["cpu_seconds"] for f in results[k]] for k in kinds}
    per_user = {k: [count / _user(f) for f in results[k]] for k in kinds}
    print(f"\n{count:,} emails, {rounds} round(s), crmreport with --workers {workers}, "
          f"written under {where or tempfile.gettempdir()}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for kind in kinds:
        walls = [f["seconds"] for f in results[kind]]
        system = statistics.median(f["system_seconds"] / f["cpu_seconds"] for f in results[kind])
        print(f"{kind:9} median {statistics.median(rates[kind]):8,.0f} emails/s "
              f"(range {min(rates[kind]):,.0f}-{max(rates[kind]):,.0f}; wall "
              f"{statistics.median(walls):.1f} s); per CPU second median "
              f"{statistics.median(per_cpu[kind]):,.0f} (range {min(per_cpu[kind]):,.0f}-"
              f"{max(per_cpu[kind]):,.0f}; {system:.0%} of it system time); "
              + ("" if kind == "files" else
                 f"per user second {statistics.median(per_user[kind]):,.0f} (range "
                 f"{min(per_user[kind]):,.0f}-{max(per_user[kind]):,.0f}); ")
              + "peak RSS "
              f"{max(f['rss_mb'] for f in results[kind]):.0f} MB, workers "
              f"{max(f['workers_rss_mb'] for f in results[kind]):.0f} MB")
    for peer in ("stdlib", "baseline", "files"):
        if "crmreport" in kinds and peer in kinds:
            ratio = statistics.median(rates["crmreport"]) / statistics.median(rates[peer])
            cpu = statistics.median(per_cpu["crmreport"]) / statistics.median(per_cpu[peer])
            user = statistics.median(per_user["crmreport"]) / statistics.median(per_user[peer])
            print(f"crmreport / {peer}: {ratio:.1f}x in wall time, {cpu:.1f}x per CPU second"
                  + (f", {user:.1f}x per user second" if peer != "files" else ""))
    print(flush=True)


def _user(figures: dict[str, float]) -> float:
    # the kind "files" can take less user time than the clock's tick
    return max(figures["cpu_seconds"] - figures["system_seconds"], 0.001)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, nargs="+", default=[20_000],
                        help="numbers of emails, each measured in turn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="render_emails's workers: processes building emails, the main "
                             "one included (a baseline older than issue 17's third round "
                             "starts this many worker processes besides it)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=KINDS[:2],
                        help="what to run (default crmreport and stdlib; stdlib alone is slow "
                             "at 100,000; baseline needs --baseline)")
    parser.add_argument("--baseline", type=Path,
                        help="another crmreport checkout to run as the kind 'baseline'")
    parser.add_argument("--dir", type=Path,
                        help="where the emails are written (default: the system's temporary "
                             "folder); each run makes and removes a fresh folder in it")
    parser.add_argument("--one", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = [*args.kinds, "baseline"] if args.baseline and "baseline" not in args.kinds \
        else args.kinds
    if args.one:
        one(args.one, args.emails[0], args.workers, args.baseline, args.dir)
    else:
        for count in args.emails:
            compare(count, args.rounds, args.workers, kinds, args.baseline, args.dir)


if __name__ == "__main__":
    main()
