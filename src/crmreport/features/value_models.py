"""Customer value: purchase counts (BG/NBD by default; MBG/NBD, Pareto/NBD, or chosen by
evidence with "auto") and Gamma-Gamma spend, fitted on the shop's orders.

Time is counted in weeks of 7 days between day numbers: T runs from a customer's first
purchase day to the last observed day (the day before ``as_of``), recency to their last
purchase day; purchases on one day are merged into one, as the models assume. This is the
convention of the published CDNOW results, which tests reproduce through this SQL. The value
horizon is 52 weeks, discounted at 10% a year
(``(1.10 ** (1 / 52)) - 1`` a week); the columns say "52w" because that is what they mean.
If the models cannot be fitted (too few repeat buyers, no convergence), the value columns are
NULL and ``ValueModel.reason`` says why, so reports show "unavailable" instead of nonsense.

The queries run here; the fits take arrays and give arrays and dataclasses, and run where
``model_worker.begun`` sends them (the run's worker process, else here). They import scipy
and crmreport.clv when called, so that the main process needs neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from crmreport import model_worker
from crmreport.engine import Connection
from crmreport.errors import CrmError, DataError
from crmreport.features.model_reasons import ModelError, ModelReason, reason_of

if TYPE_CHECKING:  # the fits' libraries are imported by the functions that fit (see below)
    import pandas as pd

    from crmreport.clv import GammaGamma, HoldoutVerdict, PurchaseModel

HORIZON_WEEKS = 52
ANNUAL_DISCOUNT = 0.10
WEEKLY_DISCOUNT = (1 + ANNUAL_DISCOUNT) ** (1 / HORIZON_WEEKS) - 1
MIN_REPEAT_BUYERS = 20  # below this the spend model has nothing to learn from
# A working table: features joins it into ``features``; it carries the models' input
# (MODEL_INPUTS) too, so that features need not summarise the purchases again.
CUSTOMER_VALUE = "customer_value"
HOLDOUT_WEEKS = 26  # the last weeks before as_of, held out to check (and choose) the model
PURCHASE_MODELS = ("bgnbd", "mbgnbd", "paretonbd")
NO_DROPOUT_NOTE = ("the model finds no dropout in this data: P(alive) cannot tell lapsed "
                   "customers from active ones")

# The value models' input that features carries: the models count purchase days, not orders.
MODEL_INPUTS: dict[str, str] = {
    "repeat_purchase_days": "purchase days after the first one (BG/NBD's frequency)",
}

VALUE_COLUMNS: dict[str, str] = {
    "p_alive": "probability the customer is still active (BG/NBD)",
    "expected_orders_52w": "expected purchase days in the next 52 weeks",
    "expected_spend": "expected value of one purchase (Gamma-Gamma)",
    "clv_52w": "discounted value of the next 52 weeks (10% a year)",
}


@dataclass(frozen=True, eq=False)
class FrequencyFit:
    """BG/NBD fitted on the calibration weeks (all but the last HOLDOUT_WEEKS before
    ``as_of``): the mean actual and predicted purchases in the holdout weeks by calibration
    frequency (the value summary's chart), or why there are none."""

    as_of: dt.date
    table: pd.DataFrame | None = None  # calibration_frequency, customers, actual, predicted
    reason: str | None = None
    reason_code: ModelReason | None = None


@dataclass(frozen=True)
class ValueModel:
    """The fitted models, or why there are none."""

    reason: str | None = None
    customers: int = 0
    repeat_buyers: int = 0
    bgnbd: dict[str, float] = field(default_factory=dict)  # the purchase model's parameters
    gammagamma: dict[str, float] = field(default_factory=dict)
    log_likelihood: float | None = None
    model: str = "bgnbd"  # the purchase model used (chosen by evidence when asked for "auto")
    verdict: HoldoutVerdict | None = None  # its check against the last HOLDOUT_WEEKS weeks
    verdict_reason: str | None = None  # why there is no verdict
    note: str | None = None  # a plain-words caveat, e.g. NO_DROPOUT_NOTE
    reason_code: ModelReason | None = None  # ``reason`` as a code, for the report's language
    verdict_reason_code: ModelReason | None = None
    # made from the verdict's calibration fit when its model is BG/NBD, else None
    by_frequency: FrequencyFit | None = field(default=None, compare=False)

    @property
    def available(self) -> bool:
        return self.reason is None


def summary_sql(end: str, holdout_end: str | None = None) -> str:
    """Per buyer before ``end``: repeat_purchase_days, recency and T in weeks, and monetary
    (mean net value of the repeat purchase days). A purchase day is a day with a purchase
    whose net revenue (net_orders.py: fully reversed orders left out, partial credit notes
    subtracted) is not negative. With ``holdout_end``, also ``holdout``: the purchase days in
    [end, holdout_end), as known before holdout_end, for checking predictions."""
    cuts = [end, *([holdout_end] if holdout_end else [])]
    holdout = [_holdout(end, 1)] if holdout_end else []
    return f"""
    SELECT customer_id, {", ".join([*_summary(end, 0), *holdout])}
    FROM ({_days_sql(cuts)}) GROUP BY customer_id HAVING bool_or(day_0) ORDER BY customer_id"""


def _days_sql(cuts: list[str]) -> str:
    """Per customer and order day, for each cut-off k whether it is a purchase day before it
    (``day_k``: a purchase among its rows and a net amount not below 0, as ``purchase_days``
    says) and its net amount (``amount_k``): one scan of net revenue's rows for every cut-off
    (``net_revenue_spans``)."""
    columns = []
    for k, cut in enumerate(cuts):
        known = f"order_date < {cut} AND coalesce(ends >= {cut}, true)"
        columns += [f"sum(amount) FILTER (WHERE {known}) AS amount_{k}",
                    f"coalesce(bool_or(kind = 'purchase') FILTER (WHERE {known}) AND "
                    f"sum(amount) FILTER (WHERE {known}) >= 0, false) AS day_{k}"]
    last = cuts[0] if len(cuts) == 1 else f"greatest({', '.join(cuts)})"
    return f"""SELECT customer_id, order_date, {", ".join(columns)}
        FROM net_revenue_spans({last}) GROUP BY customer_id, order_date"""


def _summary(end: str, k: int, suffix: str = "") -> list[str]:
    """``summary_sql``'s columns as of cut-off ``k`` of ``_days_sql`` (``end``), per customer.

    One aggregate per customer, no window: a purchase day's amount is unique per (customer,
    day), so the first day's is arg_min(amount, order_date).
    """
    day = f"FILTER (WHERE day_{k})"
    return [
        f"count(*) {day} - 1 AS repeat_purchase_days{suffix}",
        f"date_diff('day', min(order_date) {day}, max(order_date) {day}) / 7.0 "
        f"AS recency{suffix}",
        f"date_diff('day', min(order_date) {day}, {end} - 1) / 7.0 AS T{suffix}",
        # an exact decimal sum, then one division of doubles: the same bits on every engine
        # (DuckDB's avg divides in long double, Spark's in decimal)
        f"coalesce((sum(amount_{k}) {day} - arg_min(amount_{k}, order_date) {day})::DOUBLE"
        f" / nullif(count(*) {day} - 1, 0), 0) AS monetary{suffix}"]


def _holdout(end: str, k: int) -> str:
    """The purchase days on or after ``end`` as of cut-off ``k``."""
    return f"count(*) FILTER (WHERE day_{k} AND order_date >= {end}) AS holdout"


def summaries(con: Connection, as_of: dt.date) -> tuple[dict[str, np.ndarray],
                                                        dict[str, np.ndarray]]:
    """The summary as of ``as_of`` and ``calibration_columns``, from one scan of the orders."""
    now, end = f"DATE '{as_of.isoformat()}'", f"DATE '{_calibration_end(as_of).isoformat()}'"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE value_history AS
        SELECT customer_id, bool_or(day_0) AS buyer, bool_or(day_1) AS calibrated,
               {", ".join([*_summary(now, 0), *_summary(end, 1, "_c"), _holdout(end, 0)])}
        FROM ({_days_sql([now, end])}) GROUP BY customer_id""")
    try:
        summary = con.execute("SELECT customer_id, repeat_purchase_days, recency, T, monetary "
                              "FROM value_history WHERE buyer ORDER BY customer_id").fetchnumpy()
        calibration = con.execute("SELECT repeat_purchase_days_c AS repeat_purchase_days, "
                                  "recency_c AS recency, T_c AS T, holdout FROM value_history "
                                  "WHERE calibrated ORDER BY customer_id").fetchnumpy()
    finally:
        con.execute("DROP TABLE value_history")
    return summary, _calibration(calibration)


def fit_value_models(con: Connection, as_of: dt.date, model: str = "bgnbd", *,
                     holdout_chart: bool = False) -> ValueModel:
    """Create the temporary ``customer_value`` (customer_id + MODEL_INPUTS + VALUE_COLUMNS)
    and return the fitted model.

    ``model``: bgnbd (default), mbgnbd, paretonbd or auto (chosen on the last HOLDOUT_WEEKS
    weeks, see ``crmreport.clv.select``). ``holdout_chart`` (for a report) also makes
    ``by_frequency`` from the verdict's fit when the model is BG/NBD. The queries run here,
    the fits where ``model_worker.begun`` sends them (see :func:`fitting_value_models`)."""
    with fitting_value_models(con, as_of, model, holdout_chart=holdout_chart) as fitted:
        return fitted()


@contextmanager
def fitting_value_models(con: Connection, as_of: dt.date, model: str = "bgnbd", *,
                         holdout_chart: bool = False) -> Iterator[Callable[[], ValueModel]]:
    """:func:`fit_value_models` begun: its queries run now, its fits in the model worker
    while the block goes on (``model_worker.begun``); calling what this yields waits for
    them, creates ``customer_value`` and returns the model."""
    if model != "auto" and model not in PURCHASE_MODELS:
        raise ValueError(f"unknown value model {model!r}; choose auto or one of "
                         f"{', '.join(PURCHASE_MODELS)}")
    data, calibration = summaries(con, as_of)
    ids = np.asarray(data["customer_id"])
    x, tx, t, m = (np.asarray(data[c], dtype=float)
                   for c in ("repeat_purchase_days", "recency", "T", "monetary"))
    with model_worker.begun(fit_value_arrays, x, tx, t, m, calibration, model, as_of,
                            holdout_chart=holdout_chart) as fits:

        def stored() -> ValueModel:
            fitted, columns = fits()
            _store(con, ids, x, columns)
            return replace(fitted, customers=len(ids), repeat_buyers=int((x > 0).sum()))

        yield stored


def fit_value_arrays(x: np.ndarray, tx: np.ndarray, t: np.ndarray, m: np.ndarray,
                     calibration: dict[str, np.ndarray], model: str, as_of: dt.date, *,
                     holdout_chart: bool = False,
                     ) -> tuple[ValueModel, dict[str, np.ndarray] | None]:
    """``fit_value_models``' numbers: the models fitted on the summary's arrays and checked
    on ``calibration`` (``calibration_columns``), and the value columns rounded to 6 places
    (None when the models cannot be fitted). The customer counts are left to the caller."""
    table = holdout_frame(calibration)
    name = model
    try:
        if model == "auto":
            name = choose_model(table)
        purchases, gammagamma = fit_models(x, tx, t, m, name)
        columns = _predict(purchases, gammagamma, x, tx, t, m)
    except CrmError as exc:
        return ValueModel(reason=str(exc), model=name, reason_code=reason_of(exc)), None
    calibrated = _fitted_or_error(table, name)
    verdict, verdict_reason, verdict_code = _verdict(table, calibrated)
    return ValueModel(bgnbd=purchases.params, gammagamma=gammagamma.params,
                      log_likelihood=purchases.log_likelihood, model=name, verdict=verdict,
                      verdict_reason=verdict_reason, verdict_reason_code=verdict_code,
                      note=NO_DROPOUT_NOTE if purchases.no_dropout else None,
                      by_frequency=_by_frequency(table, calibrated, as_of)
                      if holdout_chart and name == "bgnbd" else None,
                      ), {k: np.round(v, 6) for k, v in columns.items()}


def fit_purchases(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, *,
                  model: str = "bgnbd") -> PurchaseModel:
    """Fit a purchase model by name; raise CrmError with the reason when the data cannot
    support it."""
    from crmreport.clv import purchase_model

    repeat = int((frequency > 0).sum())
    if repeat < MIN_REPEAT_BUYERS:
        raise ModelError("too_few_repeat_buyers", repeat=repeat, needed=MIN_REPEAT_BUYERS)
    return purchase_model(model).fit(frequency, recency, T)


def fit_models(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray,
               monetary: np.ndarray, model: str = "bgnbd",
               holdout: pd.DataFrame | None = None) -> tuple[PurchaseModel, GammaGamma]:
    """Fit a purchase model and Gamma-Gamma; raise CrmError with the reason when the data
    cannot support them. ``model`` is bgnbd, mbgnbd, paretonbd, or auto: the one
    ``select_model`` picks on ``holdout`` (a calibration/holdout table), refitted here."""
    from crmreport.clv import GammaGamma

    if model == "auto":
        if holdout is None:
            raise ValueError("model='auto' needs a calibration/holdout table to choose with")
        model = choose_model(holdout)
    purchases = fit_purchases(frequency, recency, T, model=model)
    positive = (frequency > 0) & (monetary > 0)
    gammagamma = GammaGamma().fit(frequency[positive], monetary[positive])
    return purchases, gammagamma


def choose_model(holdout: pd.DataFrame) -> str:
    """The purchase model ``select_model`` picks on a calibration/holdout table."""
    from crmreport.clv.select import select_model

    selection = select_model(holdout, PURCHASE_MODELS)
    if selection.chosen is None:
        reasons = "; ".join(f"{c.model}: {c.reason}" for c in selection.candidates)
        raise ModelError("no_model_fitted", reasons=reasons)
    return selection.chosen


def calibration_columns(con: Connection, as_of: dt.date) -> dict[str, np.ndarray]:
    """The columns of ``holdout_table`` the models read, as arrays (for the model worker)."""
    end = _calibration_end(as_of)
    return _calibration(con.execute(summary_sql(f"DATE '{end.isoformat()}'",
                                                f"DATE '{as_of.isoformat()}'")).fetchnumpy())


def _calibration_end(as_of: dt.date) -> dt.date:
    return as_of - dt.timedelta(weeks=HOLDOUT_WEEKS)


def _calibration(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    named = {"frequency": "repeat_purchase_days", "recency": "recency", "T": "T",
             "frequency_holdout": "holdout"}  # the clv API's names
    return {name: np.asarray(data[column]) for name, column in named.items()}


def holdout_frame(calibration: dict[str, np.ndarray]) -> pd.DataFrame:
    """``calibration_columns`` as the clv API's calibration/holdout table."""
    import pandas as pd

    return pd.DataFrame(calibration).assign(duration_holdout=float(HOLDOUT_WEEKS))


def holdout_table(con: Connection, as_of: dt.date) -> pd.DataFrame:
    """Calibration summary up to HOLDOUT_WEEKS before ``as_of``, with the purchase days
    after it (frequency_holdout) and the holdout length (duration_holdout)."""
    return holdout_frame(calibration_columns(con, as_of))


def check_model(table: pd.DataFrame, model: str) -> tuple[HoldoutVerdict | None, str | None]:
    """The holdout verdict of ``model`` refitted on the calibration part, or why there is none."""
    verdict, reason, _ = check_model_coded(table, model)
    return verdict, reason


def check_model_coded(table: pd.DataFrame, model: str) -> tuple[
        HoldoutVerdict | None, str | None, ModelReason | None]:
    """:func:`check_model` with the reason also as a code (for the report's language)."""
    return _verdict(table, _fitted_or_error(table, model))


def _fitted_or_error(table: pd.DataFrame, model: str) -> PurchaseModel | CrmError:
    """``model`` fitted on the calibration part of ``table``, or why it cannot be."""
    try:
        return fit_purchases(*(table[c].to_numpy(dtype=float)
                               for c in ("frequency", "recency", "T")), model=model)
    except CrmError as exc:
        return exc


def _verdict(table: pd.DataFrame, fitted: PurchaseModel | CrmError) -> tuple[
        HoldoutVerdict | None, str | None, ModelReason | None]:
    from crmreport.clv import holdout_verdict

    if isinstance(fitted, CrmError):
        return None, str(fitted), reason_of(fitted)
    try:
        return holdout_verdict(fitted, table), None, None
    except CrmError as exc:
        return None, str(exc), reason_of(exc)


def holdout_by_frequency(calibration: dict[str, np.ndarray], as_of: dt.date) -> FrequencyFit:
    """The value summary's holdout chart from ``calibration_columns`` (for the model worker),
    where the value model did not make it."""
    table = holdout_frame(calibration)
    return _by_frequency(table, _fitted_or_error(table, "bgnbd"), as_of)


def _by_frequency(table: pd.DataFrame, bgnbd: PurchaseModel | CrmError,
                  as_of: dt.date) -> FrequencyFit:
    from crmreport.clv import holdout_fit_by_frequency

    if isinstance(bgnbd, CrmError):  # the chart is about purchase counts: no spend model
        return FrequencyFit(as_of, reason=str(bgnbd), reason_code=reason_of(bgnbd))
    fit = holdout_fit_by_frequency(bgnbd, table).reset_index()
    fit["calibration_frequency"] = fit["calibration_frequency"].astype(str)
    fit["predicted"] = np.round(fit["predicted"].astype(float), 6)
    return FrequencyFit(as_of, fit)


def skip_value_models(con: Connection, as_of: dt.date) -> ValueModel:
    """``customer_value`` without a fit (every value column NULL), for callers whose rules
    read no value column; the fit is most of the features' time."""
    data = con.execute(summary_sql(f"DATE '{as_of.isoformat()}'")).fetchnumpy()
    ids = np.asarray(data["customer_id"])
    _store(con, ids, np.asarray(data["repeat_purchase_days"]), None)
    return ValueModel(reason="not fitted", customers=len(ids))


def _predict(bgnbd: PurchaseModel, gammagamma: GammaGamma, x: np.ndarray, tx: np.ndarray,
             t: np.ndarray, m: np.ndarray) -> dict[str, np.ndarray]:
    """Every value column; a non-finite result means the fitted model is unusable here."""
    from crmreport.clv import clv

    alive = bgnbd.probability_alive(x, tx, t)
    spend = np.maximum(m, 0)  # a repeat buyer's net spend can be <= 0 after refunds
    columns = {
        "p_alive": alive,
        "expected_orders_52w": bgnbd.conditional_expected_purchases(HORIZON_WEEKS, x, tx, t),
        "expected_spend": gammagamma.conditional_expected_spend(x, spend),
    }
    broken = [name for name, values in columns.items() if not np.isfinite(values).all()]
    if not broken:
        try:
            columns["clv_52w"] = clv(bgnbd, gammagamma, x, tx, t, spend, HORIZON_WEEKS,
                                     WEEKLY_DISCOUNT)
        except DataError:  # clv's own check of the expected purchases it sums
            broken = ["clv_52w"]
    if broken:
        raise ModelError("not_finite", columns=", ".join(broken))
    return columns


def _store(con: Connection, ids: np.ndarray, frequency: np.ndarray,
           columns: dict[str, np.ndarray] | None) -> None:
    # Rounded to 6 places so that the last bits of floating point never flip a rule threshold.
    arrays = {"customer_id": pa.array(ids, pa.string()),
              "repeat_purchase_days": pa.array(frequency.astype(np.int64), pa.int64())}
    for name in VALUE_COLUMNS:
        values = columns[name] if columns else None
        arrays[name] = pa.array(values if values is not None else [None] * len(ids), pa.float64())
    con.register("value_arrow", pa.table(arrays))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CUSTOMER_VALUE} AS SELECT * FROM value_arrow")
    con.unregister("value_arrow")
