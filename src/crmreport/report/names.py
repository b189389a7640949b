"""What the report calls segments, offers and channels: the campaign's ``label`` in the
report's language, else the id made readable (``at_risk`` -> "At risk"). Applied to the
suppressed frames once, before any table or chart sees them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from crmreport.config.models import UNASSIGNED
from crmreport.monitor import Monitoring
from crmreport.monitor.segments import OFFER_PREFIX
from crmreport.report.labels import LABELS

# {id: {language: label}} from the campaign's segments and offers
Labels = Mapping[str, Mapping[str, str]]


def humanise(identifier: str) -> str:
    words = identifier.replace("_", " ").replace("-", " ").split()
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else identifier


def display_name(identifier: str, labels: Labels, language: str) -> str:
    own = labels.get(identifier, {}).get(language)
    if own:
        return own
    words = LABELS[language]
    if identifier == UNASSIGNED:
        return words["unassigned"]
    if f"ch_{identifier}" in words:
        return words[f"ch_{identifier}"]
    return humanise(identifier)


def _rename(frame: pd.DataFrame, column: str, labels: Labels, language: str) -> pd.DataFrame:
    if column not in frame.columns:
        return frame
    values = [display_name(v, labels, language) if isinstance(v, str) else v
              for v in frame[column]]
    return frame.assign(**{column: pd.Series(values, index=frame.index, dtype=object)})


def with_names(m: Monitoring, labels: Labels, language: str) -> Monitoring:
    """The monitoring with segment, offer and channel ids replaced by their names."""
    response = _rename(_rename(m.response, "segment", labels, language), "channel", labels,
                       language)
    segments = _rename(m.segments, "segment", labels, language)
    offers = {c: OFFER_PREFIX + display_name(c.removeprefix(OFFER_PREFIX), labels, language)
              for c in segments.columns if c.startswith(OFFER_PREFIX)
              and c != OFFER_PREFIX + "(none)"}
    value = m.value
    if len(value.by_segment):
        value = dataclasses.replace(value, by_segment=_rename(value.by_segment, "segment",
                                                              labels, language))
    return dataclasses.replace(m, response=response, segments=segments.rename(columns=offers),
                               value=value)
