"""What the purchase-count models (BG/NBD, MBG/NBD, Pareto/NBD) have in common.

Callers that only fit and predict can treat them alike through `PurchaseModel`, and create one
by name with `purchase_model("bgnbd" | "mbgnbd" | "paretonbd")`.
"""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

from numpy.typing import ArrayLike

from crmreport.clv._fit import FloatArray
from crmreport.clv.bgnbd import BGNBD
from crmreport.clv.mbgnbd import MBGNBD
from crmreport.clv.paretonbd import ParetoNBD


@runtime_checkable
class PurchaseModel(Protocol):
    """A fitted (or fittable) model of repeat-purchase counts and dropout."""

    name: str
    params: dict[str, float]
    log_likelihood: float

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> Self: ...

    def probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...

    def conditional_expected_purchases(
        self, t: float | ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...

    def expected_purchases(self, t: ArrayLike) -> FloatArray: ...

    def alive_expectation(
        self, x: FloatArray, t_end: FloatArray, t: FloatArray
    ) -> FloatArray: ...

    @property
    def no_dropout(self) -> bool: ...


MODELS: dict[str, type[BGNBD] | type[MBGNBD] | type[ParetoNBD]] = {
    "bgnbd": BGNBD,
    "mbgnbd": MBGNBD,
    "paretonbd": ParetoNBD,
}


def purchase_model(name: str) -> PurchaseModel:
    """An unfitted purchase model by name; ValueError names the choices for an unknown one."""
    if name not in MODELS:
        raise ValueError(f"unknown purchase model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name]()
