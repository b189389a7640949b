"""What the report calls segments, offers and channels: the campaign's ``label`` in the
report's language, else the id made readable (``at_risk`` -> "At risk"); campaigns by their
label, else their id; contact and order channels by the report's words for them. Applied to
the suppressed frames once (response, segments, customer value, campaign results with
variants and order channels, segment migration), before any table or chart sees them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from crmreport.config.models import UNASSIGNED
from crmreport.monitor import Monitoring
from crmreport.monitor.results import CampaignResults
from crmreport.monitor.retention import Migration
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


def campaign_name(identifier: str, labels: Labels, language: str) -> str:
    """A campaign's label in the report's language, else its id as written."""
    return labels.get(identifier, {}).get(language) or identifier


def offer_name(identifier: str, labels: Labels, language: str) -> str:
    """An offer's name; contacts without one ("") are "no offer"."""
    return display_name(identifier, labels, language) if identifier else \
        LABELS[language]["no_offer"]


def order_channel_name(identifier: str, language: str) -> str:
    """Where an order was placed (online, store, ...) in the report's language."""
    words = LABELS[language]
    return words.get(f"order_channel_{identifier}") or humanise(identifier)


def _rename(frame: pd.DataFrame, column: str, labels: Labels, language: str,
            name: Callable[[str, Labels, str], str] = display_name) -> pd.DataFrame:
    if column not in frame.columns:
        return frame
    values = [name(v, labels, language) if isinstance(v, str) else v for v in frame[column]]
    return frame.assign(**{column: pd.Series(values, index=frame.index, dtype=object)})


def _level_name(dimension: Any, level: Any, labels: Labels, language: str) -> Any:
    if not isinstance(level, str) or dimension == "total":
        return level
    if dimension == "offer":
        return offer_name(level, labels, language)
    return display_name(level, labels, language)


def name_results(results: CampaignResults | None, labels: Labels,
             language: str) -> CampaignResults | None:
    if results is None:
        return None
    rows = results.rows
    if len(rows):
        levels = [_level_name(d, v, labels, language)
                  for d, v in zip(rows["dimension"], rows["level"], strict=True)]
        rows = rows.assign(level=pd.Series(levels, index=rows.index, dtype=object))
    rows = _rename(rows, "campaign", labels, language, campaign_name)
    channels = _rename(_rename(results.order_channels, "contact_channel", labels, language),
                       "campaign", labels, language, campaign_name)
    if len(channels):
        orders = [order_channel_name(v, language) if isinstance(v, str) else v
                  for v in channels["order_channel"]]
        channels = channels.assign(order_channel=pd.Series(orders, index=channels.index,
                                                           dtype=object))
    return dataclasses.replace(
        results, rows=rows, order_channels=channels,
        variants=_named_offers(results.variants, labels, language),
        comparisons=_named_offers(results.comparisons, labels, language))


def _named_offers(frame: pd.DataFrame, labels: Labels, language: str) -> pd.DataFrame:
    return _rename(_rename(frame, "offer", labels, language, offer_name), "campaign", labels,
                   language, campaign_name)


def _migration(migration: Migration | None, labels: Labels,
               language: str) -> Migration | None:
    if migration is None or migration.matrix.empty:
        return migration
    matrix = _rename(_rename(migration.matrix, "from_segment", labels, language),
                     "to_segment", labels, language)
    return dataclasses.replace(migration, matrix=matrix)


def with_names(m: Monitoring, labels: Labels, language: str) -> Monitoring:
    """The monitoring with segment, offer and channel ids replaced by their names."""
    response = _rename(_rename(_rename(m.response, "segment", labels, language), "channel",
                               labels, language), "campaign", labels, language, campaign_name)
    segments = _rename(m.segments, "segment", labels, language)
    offers = {c: OFFER_PREFIX + display_name(c.removeprefix(OFFER_PREFIX), labels, language)
              for c in segments.columns if c.startswith(OFFER_PREFIX)
              and c != OFFER_PREFIX + "(none)"}
    value = m.value
    if len(value.by_segment):
        value = dataclasses.replace(value, by_segment=_rename(value.by_segment, "segment",
                                                              labels, language))
    return dataclasses.replace(m, response=response, segments=segments.rename(columns=offers),
                               value=value, results=name_results(m.results, labels, language),
                               migration=_migration(m.migration, labels, language))
