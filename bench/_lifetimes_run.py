"""Run the archived `lifetimes` package on the benchmark data (inside bench/.venv-lifetimes).

Usage: python _lifetimes_run.py DATA.npz PARAMS_JSON ; prints one JSON line of results.
Not part of crmreport: it imports lifetimes, which the project never depends on.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

warnings.simplefilter("ignore")


def main() -> None:
    data = np.load(sys.argv[1])
    ours = json.loads(sys.argv[2])
    s = pd.DataFrame({k: data[k] for k in ("frequency", "recency", "T", "monetary")})
    months, monthly_rate = ours["months"], ours["monthly_rate"]
    times: dict[str, float] = {}
    tracemalloc.start()
    t0 = time.perf_counter()
    bgf = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    times["fit_bgnbd"] = time.perf_counter() - t0
    repeat = s[s["frequency"] > 0]
    t0 = time.perf_counter()
    ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary"])
    times["fit_gammagamma"] = time.perf_counter() - t0
    fitted = {**bgf.params_.to_dict(), **ggf.params_.to_dict()}
    # Predictions with OUR fitted parameters, so outputs can be compared number for number.
    bgf.params_ = pd.Series({k: ours["params"][k] for k in ("r", "alpha", "a", "b")})
    ggf.params_ = pd.Series({k: ours["params"][k] for k in ("p", "q", "v")})
    t0 = time.perf_counter()
    alive = bgf.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
    times["p_alive"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(
        ours["t"], s["frequency"], s["recency"], s["T"]
    )
    times["expected_purchases"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    value = ggf.customer_lifetime_value(
        bgf,
        s["frequency"],
        s["recency"],
        s["T"],
        s["monetary"],
        time=months,
        discount_rate=monthly_rate,
        freq="W",
    )
    times["clv"] = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    np.savez(
        sys.argv[3], p_alive=np.asarray(alive), expected=np.asarray(expected), clv=np.asarray(value)
    )
    print(
        json.dumps(
            {
                "times": times,
                "params": fitted,
                "traced_peak_mb": peak / 2**20,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "versions": {m.__name__: m.__version__ for m in (np, pd)},
            }
        )
    )


if __name__ == "__main__":
    main()
