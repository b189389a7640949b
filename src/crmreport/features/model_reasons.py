"""Why a model gave no figures, as a code with its numbers: the report words it in its own
language (``model_reason_<code>`` in :mod:`crmreport.report.labels`); ``str()`` is the
English sentence the CLI and the logs show.

Codes: ``too_few_repeat_buyers`` (repeat, needed), ``no_model_fitted`` (reasons),
``not_finite`` (columns), ``history_too_short`` (split, buyers, cutoff, horizon),
``one_class`` (split, cutoff, churned, stayed, horizon, needed). ``split`` is training or
check, ``cutoff`` a date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from crmreport.errors import CrmError

_ENGLISH = {
    "too_few_repeat_buyers": "only {repeat} repeat buyers; at least {needed} are needed to fit "
                             "the value models",
    "no_model_fitted": "no purchase model could be fitted on the calibration period ({reasons})",
    "not_finite": "the fitted models give no finite {columns} for some customers (parameters "
                  "at the edge of their range); the value figures are left out",
    "history_too_short": "the order history is too short: {buyers} buyers before the {split} "
                         "cut-off {cutoff} (as_of - {n}, N = {horizon} days)",
    "one_class": "the {split} split as of {cutoff} has {churned} buyers without and {stayed} "
                 "with an order in the next {horizon} days; at least {needed} of each are "
                 "needed",
}
CODES = tuple(_ENGLISH)


@dataclass(frozen=True)
class ModelReason:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in _ENGLISH:
            raise ValueError(f"undeclared model reason {self.code!r}")

    def __str__(self) -> str:
        params = {k: v.isoformat() if isinstance(v, dt.date) else v
                  for k, v in self.params.items()}
        if self.code == "history_too_short":
            params["n"] = "2N" if self.params.get("split") == "training" else "N"
        return _ENGLISH[self.code].format(**params)


class ModelError(CrmError):
    """A model cannot be fitted on this data; ``reason`` says why, as a code."""

    def __init__(self, code: str, **params: Any) -> None:
        self.reason = ModelReason(code, dict(params))
        super().__init__(str(self.reason))

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its code and numbers: the default would call ModelError(message)
        # (on its way back from the model worker, crmreport.model_worker).
        return _model_error, (self.reason.code, self.reason.params)


def _model_error(code: str, params: dict[str, Any]) -> ModelError:
    return ModelError(code, **params)


def reason_of(exc: Exception) -> ModelReason | None:
    """The coded reason of a ModelError, None for any other error."""
    return exc.reason if isinstance(exc, ModelError) else None
