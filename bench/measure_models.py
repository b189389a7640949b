"""Holdout error and fit time of each purchase model on the full data files, and `auto`'s pick.

    python bench/measure_models.py            # all three runs below
    python bench/measure_models.py cdnow-39w  # one of them, by name

For each run (a campaign file read as `crmreport clv` reads it, with the as-of date below):
the calibration/holdout table that `value_models.holdout_table` builds (calibration = purchase
days before as_of - 26 weeks, holdout = the 26 weeks up to as_of, net-revenue purchase days),
then per model (bgnbd, mbgnbd, paretonbd) `select_model(table, (model,))`: its fit on the
calibration period and holdout verdict (total predicted vs actual repeat purchases, error in
percent, bucket chi-square as select.py computes it), and the time of that call; then the
model's fit on the whole period before as_of (what `crmreport clv` reports), timed. Each model
runs in a child process stopped after LIMIT seconds. `auto`'s pick is `select_model(table)`
over all three (value_models.choose_model), run only when every model finished in time.

Runs:
    online-retail   tests/data/online_retail/campaign.yaml, as_of 2011-12-10
    cdnow-whole     tests/data/cdnow/campaign_39w.yaml, as_of 1998-07-01 (the whole file)
    cdnow-39w       tests/data/cdnow/campaign_39w.yaml, as_of 1997-10-01

Times are wall-clock on the machine that runs it, single process; loading the file is not
included.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from crmreport.clv.select import select_model
from crmreport.config.loader import load_campaign
from crmreport.engine import connect
from crmreport.features.net_orders import classify_orders
from crmreport.features.value_models import (
    PURCHASE_MODELS,
    fit_purchases,
    holdout_table,
    summary_sql,
)
from crmreport.identify import identify_tables
from crmreport.ingest import load_sources
from crmreport.pipeline import sources

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
LIMIT = 180.0  # seconds per model and period before the child is stopped
RUNS = {
    "online-retail": (DATA / "online_retail" / "campaign.yaml", dt.date(2011, 12, 10)),
    "cdnow-whole": (DATA / "cdnow" / "campaign_39w.yaml", dt.date(1998, 7, 1)),
    "cdnow-39w": (DATA / "cdnow" / "campaign_39w.yaml", dt.date(1997, 10, 1)),
}


def _tables(campaign: Path, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(calibration/holdout table, whole-period summary before as_of)."""
    loaded = load_campaign(campaign)
    con = connect()
    identify_tables(con, load_sources(con, sources(loaded)), loaded.config.currency)
    classify_orders(con)
    whole = con.execute(summary_sql(f"DATE '{as_of.isoformat()}'")).df()
    return holdout_table(con, as_of), whole


def _measure(model: str, table: pd.DataFrame, whole: pd.DataFrame, out: Any) -> None:
    """In a child process: the calibration fit + verdict, then the whole-period fit."""
    start = time.perf_counter()
    candidate = select_model(table, (model,)).candidate(model)
    seconds = time.perf_counter() - start
    v = candidate.verdict
    out.put(("calibration", {
        "seconds": seconds, "reason": candidate.reason, "params": candidate.params,
        "actual": v.actual if v else None, "predicted": v.predicted if v else None,
        "error_percent": v.error_percent if v else None,
        "bucket_chi_square": v.bucket_chi_square if v else None,
        "warning": v.warning if v else None}))
    start = time.perf_counter()
    fitted = fit_purchases(*(whole[c].to_numpy(dtype=float) for c in
                             ("repeat_purchase_days", "recency", "T")), model=model)
    out.put(("whole", {"seconds": time.perf_counter() - start, "params": fitted.params,
                       "log_likelihood": fitted.log_likelihood}))


def _choose(table: pd.DataFrame, out: Any) -> None:
    start = time.perf_counter()
    out.put(("auto", {"chosen": select_model(table, PURCHASE_MODELS).chosen,
                      "seconds": time.perf_counter() - start}))


def _child(target: Any, *args: Any) -> dict[str, dict[str, Any]]:
    """Run target(*args, queue) in a forked child; what it reported within LIMIT seconds."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, queue))
    process.start()
    got: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + LIMIT
    while process.is_alive() or not queue.empty():
        try:
            key, value = queue.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            got[key] = value
            deadline = time.monotonic() + LIMIT  # each period has its own limit
        except Exception:  # queue.Empty
            if time.monotonic() > deadline:
                process.terminate()
                process.join()
                break
    process.join()
    return got


def _fmt(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


def measure(name: str) -> None:
    campaign, as_of = RUNS[name]
    table, whole = _tables(campaign, as_of)
    end = as_of - dt.timedelta(weeks=26)
    print(f"\n== {name}: as_of {as_of}, calibration before {end}, holdout {end} .. "
          f"{as_of - dt.timedelta(days=1)}; {len(table):,} calibration customers "
          f"({int((table['frequency'] > 0).sum()):,} repeat), {len(whole):,} customers "
          f"before as_of ({int((whole['repeat_purchase_days'] > 0).sum()):,} repeat)")
    finished = True
    for model in PURCHASE_MODELS:
        got = _child(_measure, model, table, whole)
        cal = got.get("calibration")
        if cal is None:
            print(f"  {model:9} calibration fit stopped after {LIMIT:.0f} s")
            finished = False
            continue
        if cal["reason"]:
            print(f"  {model:9} no verdict: {cal['reason']} ({cal['seconds']:.1f} s)")
        else:
            print(f"  {model:9} holdout actual {cal['actual']:,.0f}, predicted "
                  f"{cal['predicted']:,.1f}, error {cal['error_percent']:+.2f}%, bucket "
                  f"chi-square {cal['bucket_chi_square']:,.1f}"
                  f"{' (warning)' if cal['warning'] else ''}; calibration fit+check "
                  f"{cal['seconds']:.2f} s [{_fmt(cal['params'])}]")
        full = got.get("whole")
        if full is None:
            print(f"  {'':9} whole-period fit stopped after {LIMIT:.0f} s or failed")
        else:
            print(f"  {'':9} whole-period fit {full['seconds']:.2f} s, LL "
                  f"{full['log_likelihood']:,.2f} [{_fmt(full['params'])}]")
    if finished:
        auto = _child(_choose, table).get("auto")
        if auto is None:
            print("  auto: select_model stopped")
        else:
            print(f"  auto picks: {auto['chosen']} (select_model over all three: "
                  f"{auto['seconds']:.2f} s)")
    else:
        print("  auto: not run (a model did not finish in time)")


if __name__ == "__main__":
    for run in sys.argv[1:] or list(RUNS):
        measure(run)
