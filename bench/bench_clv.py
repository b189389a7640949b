"""Benchmark: BG/NBD + Gamma-Gamma fit and CLV prediction for 1M simulated customers.

    python bench/bench_clv.py                  # ours, then lifetimes 0.11.3 for comparison
    python bench/bench_clv.py --no-lifetimes   # ours only
    python bench/bench_clv.py --continuous --repeat 3   # purchase times off the day grid

Customers are simulated from a BG/NBD with the CDNOW parameters (deterministic seed), with
first purchases spread over 12 weeks, a 39-week calibration period ending on day 272 and
purchase times on a day grid, like real order data. The archived `lifetimes` package runs in
its own venv, bench/.venv-lifetimes, created on first use (never a project dependency).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from crmreport.clv import BGNBD, GammaGamma, clv

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-lifetimes"
DATA = HERE / ".data"
# Versions checked to work with lifetimes 0.11.3 on Python 3.11.
LIFETIMES_PINS = [
    "lifetimes==0.11.3",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scipy==1.17.1",
    "autograd==1.9.1",
    "dill==0.4.1",
]
BG_TRUE = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG_TRUE = {"p": 6.25, "q": 3.74, "gamma": 15.44}
HORIZON_T = 39.0  # weeks ahead for expected purchases
# lifetimes discounts per 4.345-week "month"; the same schedule in our explicit units:
MONTHS, MONTHLY_RATE, WEEKS_PER_MONTH = 12, 0.01, 4.345


def simulate(n: int, seed: int, continuous: bool = False) -> dict[str, np.ndarray]:
    """Per-customer (frequency, recency, T, monetary) drawn from BG/NBD + Gamma-Gamma.

    Purchase times fall on a day grid, or anywhere with ``continuous`` (order timestamps):
    then nearly every repeat buyer has a (x, t_x, T) triple of their own.
    """
    rng = np.random.default_rng(seed)
    birth_day = rng.integers(0, 84, n)
    t_end = (272 - birth_day) / 7.0
    lam = rng.gamma(BG_TRUE["r"], 1 / BG_TRUE["alpha"], n)
    drop = rng.beta(BG_TRUE["a"], BG_TRUE["b"], n)
    events = rng.poisson(lam * t_end)
    # Drop-out comes after the K-th repeat purchase, K ~ Geometric(p) on 1, 2, ...
    x = np.minimum(events, rng.geometric(drop))
    # The x-th of `events` uniform purchase times, rounded down to whole days.
    last = t_end * rng.beta(np.maximum(x, 1), np.maximum(events - x + 1, 1))
    tx = np.where(x > 0, last if continuous else np.floor(last * 7) / 7, 0.0)
    nu = rng.gamma(GG_TRUE["q"], 1 / GG_TRUE["gamma"], n)
    xs = np.maximum(x, 1)
    spend = rng.gamma(GG_TRUE["p"] * xs, 1 / (nu * xs))
    monetary = np.where(x > 0, np.round(spend, 2), 0.0)
    return {"frequency": x.astype(float), "recency": tx, "T": t_end, "monetary": monetary}


def run_ours(s: dict[str, np.ndarray]) -> dict:
    """Fit both models and predict for every customer, timing each stage."""
    x, tx, t_end, m = s["frequency"], s["recency"], s["T"], s["monetary"]
    times: dict[str, float] = {}
    tracemalloc.start()
    t0 = time.perf_counter()
    bg = BGNBD().fit(x, tx, t_end)
    times["fit_bgnbd"] = _lap(t0)
    t0 = time.perf_counter()
    gg = GammaGamma().fit(x, m)
    times["fit_gammagamma"] = _lap(t0)
    t0 = time.perf_counter()
    alive = bg.probability_alive(x, tx, t_end)
    times["p_alive"] = _lap(t0)
    t0 = time.perf_counter()
    expected = bg.conditional_expected_purchases(HORIZON_T, x, tx, t_end)
    times["expected_purchases"] = _lap(t0)
    t0 = time.perf_counter()
    weekly_rate = (1 + MONTHLY_RATE) ** (1 / WEEKS_PER_MONTH) - 1
    value = clv(
        bg,
        gg,
        x,
        tx,
        t_end,
        m,
        horizon=MONTHS * WEEKS_PER_MONTH,
        discount_rate=weekly_rate,
        step=WEEKS_PER_MONTH,
    )
    times["clv"] = _lap(t0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "times": times,
        "params": {**bg.params, **gg.params},
        "traced_peak_mb": peak / 2**20,
        "outputs": {"p_alive": alive, "expected": expected, "clv": value},
    }


def _lap(t0: float) -> float:
    return time.perf_counter() - t0


def ensure_lifetimes_venv() -> Path | None:
    """The venv's python, creating the venv with pinned versions on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} (one-off) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *LIFETIMES_PINS], check=True)
    probe = subprocess.run([str(python), "-c", "import lifetimes"], capture_output=True)
    if probe.returncode:
        print(f"lifetimes does not import here:\n{probe.stderr.decode()}", file=sys.stderr)
        return None
    return python


def run_lifetimes(data_file: Path, ours: dict) -> dict | None:
    python = ensure_lifetimes_venv()
    if python is None:
        return None
    p = ours["params"]
    args = {
        "params": {
            "r": p["r"],
            "alpha": p["alpha"],
            "a": p["a"],
            "b": p["b"],
            "p": p["p"],
            "q": p["q"],
            "v": p["gamma"],
        },
        "t": HORIZON_T,
        "months": MONTHS,
        "monthly_rate": MONTHLY_RATE,
    }
    out_file = data_file.with_name(data_file.stem + "_lifetimes_out.npz")
    t0 = time.perf_counter()
    done = subprocess.run(
        [
            str(python),
            str(HERE / "_lifetimes_run.py"),
            str(data_file),
            json.dumps(args),
            str(out_file),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(f"lifetimes failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t0
    with np.load(out_file) as outputs:
        result["outputs"] = {k: outputs[k] for k in outputs.files}
    return result


def report(n: int, ours: dict, theirs: dict | None) -> None:
    total = sum(ours["times"].values())
    print(f"customers: {n:,}   (BG/NBD true {BG_TRUE}, Gamma-Gamma true {GG_TRUE})")
    print(f"{'stage':<22}{'crmreport s':>14}{'lifetimes s':>14}{'ratio':>9}")
    for stage, ours_s in ours["times"].items():
        their_s = theirs["times"][stage] if theirs else float("nan")
        print(f"{stage:<22}{ours_s:>14.3f}{their_s:>14.3f}{their_s / ours_s:>8.1f}x")
    their_total = sum(theirs["times"].values()) if theirs else float("nan")
    print(f"{'total':<22}{total:>14.3f}{their_total:>14.3f}{their_total / total:>8.1f}x")
    print(
        f"peak traced memory (fit + predict): crmreport {ours['traced_peak_mb']:.0f} MB"
        + (f", lifetimes {theirs['traced_peak_mb']:.0f} MB" if theirs else "")
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS of the process: crmreport {rss:.0f} MB (incl. simulation)"
        + (f", lifetimes {theirs['max_rss_mb']:.0f} MB" if theirs else "")
    )
    print("fitted parameters: crmreport " + _fmt(ours["params"]))
    if theirs:
        print("                   lifetimes " + _fmt(theirs["params"]))
        for key, ours_v in ours["outputs"].items():
            diff = np.max(np.abs(ours_v - theirs["outputs"][key]) / np.maximum(1e-9, ours_v))
            print(f"same parameters, max relative difference in {key}: {diff:.1e}")


def _fmt(params: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20050101)
    parser.add_argument("--no-lifetimes", action="store_true", help="skip the comparison")
    parser.add_argument("--continuous", action="store_true",
                        help="purchase times off the day grid (about 400,000 distinct triples)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each, alternating; prints the median and range")
    opts = parser.parse_args()
    sim = simulate(opts.customers, opts.seed, opts.continuous)
    triples = np.unique(np.stack([sim["frequency"], sim["recency"], sim["T"]]), axis=1).shape[1]
    print(f"distinct (x, t_x, T) triples: {triples:,}")
    data_file = DATA / f"clv_{opts.customers}_{opts.seed}{'_continuous' * opts.continuous}.npz"
    if not opts.no_lifetimes:
        DATA.mkdir(exist_ok=True)
        np.savez(data_file, **sim)
    totals: list[tuple[float, float]] = []
    for run in range(opts.repeat):  # the two alternate, so both see the same load
        ours = run_ours(sim)
        theirs = None
        if not opts.no_lifetimes:
            print(f"run {run + 1}: lifetimes (this takes a while) ...", file=sys.stderr)
            theirs = run_lifetimes(data_file, ours)
        totals.append((sum(ours["times"].values()),
                       sum(theirs["times"].values()) if theirs else float("nan")))
    report(opts.customers, ours, theirs)  # the last run in detail
    if opts.repeat > 1:
        mine, peer = [t[0] for t in totals], [t[1] for t in totals]
        ratios = [b / a for a, b in totals]
        print(f"over {opts.repeat} alternating runs, fit + predict: crmreport median "
              f"{np.median(mine):.2f} s ({min(mine):.2f}-{max(mine):.2f}), lifetimes median "
              f"{np.median(peer):.2f} s ({min(peer):.2f}-{max(peer):.2f}), ratio median "
              f"{np.median(ratios):.1f}x ({min(ratios):.1f}-{max(ratios):.1f})")

if __name__ == "__main__":
    main()
