"""Customer lifetime value: BG/NBD purchase counts, Gamma-Gamma spend, discounted CLV.

Implemented on numpy/scipy only (the archived `lifetimes` package is not used):

    from crmreport.clv import BGNBD, GammaGamma, summarise_transactions, clv
    s = summarise_transactions(orders, "customer_id", "order_date", "amount",
                               as_of="1997-10-01", unit="W")
    bg = BGNBD().fit(s["frequency"], s["recency"], s["T"])
    gg = GammaGamma().fit(s["frequency"], s["monetary"])
    value = clv(bg, gg, s["frequency"], s["recency"], s["T"], s["monetary"],
                horizon=52, discount_rate=0.0018)     # 52 weeks, ~10% a year

Other purchase models with the same API (`PurchaseModel`): `MBGNBD` (dropout also possible
right after the first purchase) and `ParetoNBD` (dropout at any time). Pareto/NBD on the
CDNOW sample gives r=0.5533, alpha=10.58, s=0.6062, beta=11.67, LL=-9594.98 (as published);
MBG/NBD r=0.5248, alpha=6.183, a=0.8914, b=1.614, LL=-9582.14.

Validation: `calibration_holdout` splits the log at a date, `holdout_fit_by_frequency`
compares predicted and actual holdout purchases, `holdout_verdict` sums it up with a warning,
and `select_model` fits every purchase model and picks the one the holdout supports best.
Fits that fail raise `ConvergenceError`.

Reproducing Fader, Hardie and Lee (2005) on the CDNOW 2,357-customer sample: summarise with
as_of="1997-10-01", unit="W" (as_of is exclusive, as in a campaign: the last observed day is
1997-09-30 and T = (1997-09-30 - first purchase day) / 7, so 38.86 weeks for a 1 January buyer;
same-day purchases merged). BG/NBD gives r=0.2426, alpha=4.414,
a=0.7929, b=2.426, LL=-9582.43; Gamma-Gamma on the 946 repeat buyers p=6.250, q=3.744,
gamma=15.44 (rounding monetary to cents changes nothing). Measuring T to 1997-10-01 itself
(273 days after 1 January) does not reproduce them (r=0.2417, a=0.8145, LL=-9589.9), nor
does counting same-day purchases separately (959 repeat buyers, p=6.20, q=3.82).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crmreport.clv._fit import ConvergenceError, NotFittedError, one_blas_thread
    from crmreport.clv.base import MODELS, PurchaseModel, purchase_model
    from crmreport.clv.bgnbd import BGNBD
    from crmreport.clv.gammagamma import GammaGamma
    from crmreport.clv.holdout import (
        HoldoutVerdict,
        calibration_holdout,
        holdout_fit_by_frequency,
        holdout_verdict,
    )
    from crmreport.clv.lifetime_value import clv
    from crmreport.clv.mbgnbd import MBGNBD
    from crmreport.clv.paretonbd import ParetoNBD
    from crmreport.clv.select import Candidate, Selection, select_model
    from crmreport.clv.summary import summarise_transactions

# Each name's module, imported on first use: the fits need scipy.optimize, but a holdout
# verdict sent back from the model worker (crmreport.model_worker) needs only clv.holdout,
# and the main process imports no optimiser for it.
_MODULE_OF = {
    "ConvergenceError": "_fit", "NotFittedError": "_fit", "one_blas_thread": "_fit",
    "MODELS": "base", "PurchaseModel": "base", "purchase_model": "base", "BGNBD": "bgnbd",
    "GammaGamma": "gammagamma", "HoldoutVerdict": "holdout",
    "calibration_holdout": "holdout", "holdout_fit_by_frequency": "holdout",
    "holdout_verdict": "holdout", "clv": "lifetime_value", "MBGNBD": "mbgnbd",
    "ParetoNBD": "paretonbd", "Candidate": "select", "Selection": "select",
    "select_model": "select", "summarise_transactions": "summary",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)


def __dir__() -> list[str]:  # the names not yet loaded too, for dir() and completion
    return sorted({*globals(), *__all__})


__all__ = [
    "BGNBD",
    "MBGNBD",
    "MODELS",
    "Candidate",
    "ConvergenceError",
    "GammaGamma",
    "HoldoutVerdict",
    "NotFittedError",
    "ParetoNBD",
    "PurchaseModel",
    "Selection",
    "calibration_holdout",
    "clv",
    "holdout_fit_by_frequency",
    "holdout_verdict",
    "one_blas_thread",
    "purchase_model",
    "select_model",
    "summarise_transactions",
]
