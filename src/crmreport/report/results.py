"""Small-cell suppression of the campaign results that cannot be undone, and their page context.

A figure is about few people when a customer count, or its complement, is 1..k-1 (k =
``min_cell_size``): a group of fewer than k customers, fewer than k responders or buyers, or
fewer than k who did not respond (9 responders of 10 tell on the tenth). Each row's counts are
variables: treated and control customers (``n_t``, ``n_c``) and responders or buyers with
their revenue (``x_t``, ``x_c``). Hiding a variable hides every figure computed from it:
- ``n`` hides the group's size, cost and its ``x``;
- ``x`` hides the count, its rate (rate x size gives it back) and the revenue per customer;
- any hidden variable in a row hides all comparisons of that row (uplift, relative uplift,
  interval and p-value, incremental revenue and CUPED, return), since each can be solved
  for the missing count given the shown ones.
Then the table's sums: the levels of one dimension add up to the campaign total, variants to
their offer, contact channels and order channels to their totals. A sum with exactly one
hidden cell gives it back by subtraction, so another cell of it is hidden (the smallest
group), repeated until no sum has a single hidden cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd

from crmreport.monitor.results import CampaignResults
from crmreport.monitor.retention import ACTIVE_DAYS, Migration
from crmreport.monitor.value_summary import HOLDOUT_WEEKS, ValueSummary
from crmreport.report.format import SUPPRESSED, Formatter

COMPARISONS = ["uplift_abs", "uplift_rel", "ci_low", "ci_high", "p_value",
               "incremental_revenue", "inc_low", "inc_high", "cuped_revenue", "cuped_low",
               "cuped_high", "variance_reduction", "incremental_orders", "revenue_per_cost",
               "margin_per_cost", "cost_per_order"]
_COMPARE_VARIANTS = ["rate_first", "rate_second", "p_value", "p_holm", "significant"]
# The columns a hidden variable hides, per frame; n_t also hides x_t, n_c also x_c.
_COLUMNS: dict[str, dict[str, list[str]]] = {
    "rows": {"n_t": ["contacted", "cost", "cost_negligible"],
             "x_t": ["responders_t", "rate_t", "rev_t"],
             "n_c": ["control"], "x_c": ["responders_c", "rate_c", "rev_c"]},
    "variants": {"n_t": ["contacted"], "x_t": ["responders_t", "rate_t"],
                 "n_c": ["control"], "x_c": ["responders_c", "rate_c"]},
    "order_channels": {"n_t": ["contacted"], "x_t": ["buyers_t", "rev_t"],
                       "n_c": ["control"], "x_c": ["buyers_c", "rev_c"]},
}
_COUNTS = {  # per frame and variable: (count column, group size column)
    "rows": {"n_t": ("contacted", "contacted"), "n_c": ("control", "control"),
             "x_t": ("responders_t", "contacted"), "x_c": ("responders_c", "control")},
    "variants": {"n_t": ("contacted", "contacted"), "n_c": ("control", "control"),
                 "x_t": ("responders_t", "contacted"), "x_c": ("responders_c", "control")},
    "order_channels": {"n_t": ("contacted", "contacted"), "n_c": ("control", "control"),
                       "x_t": ("buyers_t", "contacted"), "x_c": ("buyers_c", "control")},
}
VARIABLES = ("n_t", "x_t", "n_c", "x_c")
Cell = tuple[str, Any, str]  # (frame, index, variable)


def suppress_results(results: CampaignResults, k: int) -> CampaignResults:
    frames = {name: getattr(results, name) for name in _COLUMNS}
    hidden = _primary(frames, k)
    relations = _relations(frames)
    _close(hidden, relations, frames)
    out = {name: frame.astype(object).copy() for name, frame in frames.items()}
    for frame, index, var in hidden:
        _hide(out[frame], index, _COLUMNS[frame][var])
    for name in ("rows", "order_channels"):
        touched = {index for frame, index, _ in hidden if frame == name}
        for index in touched:
            _hide(out[name], index, COMPARISONS if name == "rows" else
                  ["incremental_revenue", "inc_low", "inc_high"])
    comparisons = results.comparisons.astype(object).copy()
    rows = frames["rows"]
    for (campaign, offer), part in results.variants.groupby(["campaign", "offer"]):
        arms = {("variants", i, v) for i in part.index for v in VARIABLES}
        margin = _offer_row(rows, campaign, offer)
        arms |= {("rows", margin, v) for v in ("n_c", "x_c")}
        if arms & hidden:
            _hide(out["variants"], list(part.index), ["needed_per_group"])
            same = (comparisons["campaign"] == campaign) & (comparisons["offer"] == offer)
            _hide(comparisons, list(comparisons.index[same]), _COMPARE_VARIANTS)
    return dataclasses.replace(results, rows=out["rows"], variants=out["variants"],
                               order_channels=out["order_channels"], comparisons=comparisons)


def _hide(frame: pd.DataFrame, index: Any, columns: list[str]) -> None:
    marker: Any = SUPPRESSED
    for i in index if isinstance(index, list) else [index]:
        for col in columns:
            frame.at[i, col] = marker


def _few(count: Any, size: Any, k: int) -> bool:
    """A count of 1..k-1 people, or leaving 1..k-1 people of its group (zero reveals none)."""
    if count is None or size is None or pd.isna(count) or pd.isna(size):
        return False
    return 0 < int(count) < k or 0 < int(size) - int(count) < k


def _primary(frames: Mapping[str, pd.DataFrame], k: int) -> set[Cell]:
    hidden: set[Cell] = set()
    for name, frame in frames.items():
        for index, row in frame.iterrows():
            for var, (count, size) in _COUNTS[name].items():
                small = (0 < int(row[size]) < k) if var.startswith("n") else \
                    _few(row[count], row[size], k)
                if small:
                    hidden.add((name, index, var))
    return hidden


def _offer_row(rows: pd.DataFrame, campaign: Any, offer: Any) -> Any:
    """The row the offer's variants add up to: its offer row, or the total with one offer."""
    own = rows.index[(rows["campaign"] == campaign) & (rows["dimension"] == "offer")
                     & (rows["level"] == offer)]
    if len(own):
        return own[0]
    return rows.index[(rows["campaign"] == campaign) & (rows["dimension"] == "total")][0]


def _channel_row(rows: pd.DataFrame, campaign: Any, channel: Any) -> Any:
    """The row of a contact channel (None: all), or the total when there is only one."""
    here = rows["campaign"] == campaign
    if channel is not None and not pd.isna(channel):
        own = rows.index[here & (rows["dimension"] == "channel") & (rows["level"] == channel)]
        if len(own):
            return own[0]
    return rows.index[here & (rows["dimension"] == "total")][0]


Relation = tuple[Cell, list[Cell]]  # a margin and the cells adding up to it


def _relations(frames: Mapping[str, pd.DataFrame]) -> list[Relation]:
    rows, variants, channels = frames["rows"], frames["variants"], frames["order_channels"]
    out: list[Relation] = []

    def add(margin: tuple[str, Any], members: list[tuple[str, Any]],
            variables: tuple[str, ...] = VARIABLES) -> None:
        out.extend(((margin[0], margin[1], v), [(f, i, v) for f, i in members])
                   for v in variables)

    groups: dict[tuple[Any, Any], list[Any]] = {}
    for index, r in zip(rows.index, rows.to_dict("records"), strict=True):
        if r["dimension"] != "total":
            groups.setdefault((r["campaign"], r["dimension"]), []).append(index)
    for (campaign, _), members in groups.items():
        add(("rows", _channel_row(rows, campaign, None)), [("rows", i) for i in members])
    offers: dict[tuple[Any, Any], list[Any]] = {}
    for index, r in zip(variants.index, variants.to_dict("records"), strict=True):
        offers.setdefault((r["campaign"], r["offer"]), []).append(index)
    for (campaign, offer), members in offers.items():
        add(("rows", _offer_row(rows, campaign, offer)), [("variants", i) for i in members])
    by_order: dict[tuple[Any, Any], list[tuple[Any, bool]]] = {}
    by_contact: dict[tuple[Any, Any], list[Any]] = {}
    for index, r in zip(channels.index, channels.to_dict("records"), strict=True):
        contact = None if pd.isna(r["contact_channel"]) else r["contact_channel"]
        by_order.setdefault((r["campaign"], r["order_channel"]), []).append(
            (index, contact is None))
        by_contact.setdefault((r["campaign"], contact), []).append(index)
        # the same customers as the contact channel's row: n is the same variable
        add(("rows", _channel_row(rows, r["campaign"], contact)), [("order_channels", index)],
            ("n_t", "n_c"))
    for cells in by_order.values():
        overall = [i for i, is_all in cells if is_all]
        members = [("order_channels", i) for i, is_all in cells if not is_all]
        if overall and members:
            add(("order_channels", overall[0]), members)
    for (campaign, contact), members in by_contact.items():
        # revenue on every order channel adds up to the contact channel's revenue
        add(("rows", _channel_row(rows, campaign, contact)),
            [("order_channels", i) for i in members], ("x_t", "x_c"))
    return out


def _close(hidden: set[Cell], relations: list[Relation],
           frames: Mapping[str, pd.DataFrame]) -> None:
    """Hide more cells until no relation has exactly one hidden cell, and n implies x."""
    changed = True
    while changed:
        changed = False
        for frame, index, var in list(hidden):
            if var.startswith("n") and (frame, index, "x" + var[1:]) not in hidden:
                hidden.add((frame, index, "x" + var[1:]))
                changed = True
        for margin, members in relations:
            cells = [margin, *members]
            if sum(c in hidden for c in cells) != 1:
                continue
            shown = [c for c in members if c not in hidden] or [margin]
            if shown == [margin] and margin in hidden:
                continue  # nothing left to hide
            hidden.add(min(shown, key=lambda c: _size(frames, c)))
            changed = True


def _size(frames: Mapping[str, pd.DataFrame], cell: Cell) -> tuple[float, str]:
    frame, index, var = cell
    size: Any = frames[frame].at[index, _COUNTS[frame][var][1]]
    return float(size), str(index)


def campaign_totals(results: CampaignResults | None) -> list[dict[str, Any]]:
    """Each campaign's total row of the (suppressed) results, in the shape of the response
    table's totals, for the executive summary, its email and ``report --json``: the same
    figures, hidden in the same places, as the campaign section shows. ``roi`` is the return
    beside the revenue per currency unit (that minus one), None where the cost is negligible.
    """
    if results is None or results.rows.empty:
        return []
    out = []
    totals = results.rows[results.rows["dimension"] == "total"]
    for r in totals.sort_values("campaign").to_dict("records"):
        per_cost = r["revenue_per_cost"]
        roi: Any = None if r["cost_negligible"] is True or per_cost is None \
            or pd.isna(per_cost) else per_cost if per_cost is SUPPRESSED else per_cost - 1
        out.append({
            "campaign": r["campaign"], "is_total": True, "segment": None, "channel": None,
            **{key: r[key] for key in ("contacted", "control", "responders_t", "responders_c",
                                       "rate_t", "rate_c", "uplift_abs", "uplift_rel",
                                       "ci_low", "ci_high", "p_value", "incremental_revenue",
                                       "cost")},
            "rev_per_contact_t": r["rev_t"], "rev_per_contact_c": r["rev_c"], "roi": roi})
    return out


# --- page context -------------------------------------------------------------------------


def results_context(results: CampaignResults | None, fmt: Formatter,
                    t: Mapping[str, str]) -> dict[str, Any] | None:
    """The campaign results as strings for the templates, one block per campaign."""
    if results is None or results.rows.empty:
        return None
    campaigns = []
    for campaign, rows in results.rows.groupby("campaign", sort=True):
        variants = results.variants[results.variants["campaign"] == campaign]
        comparisons = results.comparisons[results.comparisons["campaign"] == campaign]
        channels = results.order_channels[results.order_channels["campaign"] == campaign]
        campaigns.append({
            "name": campaign,
            "rows": [_row(r, fmt, t) for r in rows.to_dict("records")],
            "variants": [_variant(r, fmt, t) for r in variants.to_dict("records")],
            "comparisons": [_comparison(r, fmt, t) for r in comparisons.to_dict("records")],
            "channels": [_order_channel(r, fmt, t) for r in channels.to_dict("records")],
        })
    notes = [t["results_method"].format(days=results.window_days, pre=results.pre_days),
             t["results_cost"].format(cost=fmt.number(1, 0), share=fmt.percent(0.01, 0))]
    if results.margin is None:
        notes.append(t["results_no_margin"])
    else:
        notes.append(t["results_margin"].format(margin=fmt.percent(results.margin, 0)))
    return {"campaigns": campaigns, "notes": notes}


def _level(r: Mapping[Any, Any], t: Mapping[str, str]) -> tuple[str, str]:
    if r["dimension"] == "total":
        return t["total"], ""
    return t["dim_" + str(r["dimension"])], str(r["level"])


def _interval(low: Any, high: Any, fmt: Formatter, decimals: int = 0) -> str:
    if low is SUPPRESSED or high is SUPPRESSED:
        return "–"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return fmt.missing
    return f"[{fmt.number(low, decimals)}; {fmt.number(high, decimals)}]"


def _points_interval(low: Any, high: Any, fmt: Formatter, t: Mapping[str, str]) -> str:
    if low is SUPPRESSED or high is SUPPRESSED:
        return "–"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return fmt.missing
    return f"[{fmt.number(low * 100, 1)}; {fmt.number(high * 100, 1)}] {t['pp']}"


def _row(r: Mapping[Any, Any], fmt: Formatter, t: Mapping[str, str]) -> dict[str, Any]:
    dimension, level = _level(r, t)
    negligible = r["cost_negligible"] is True

    def ratio(value: Any, decimals: int) -> str:
        return t["cost_negligible"] if negligible else fmt.number(value, decimals)

    def money(value: Any) -> str:
        return t["cost_negligible"] if negligible else fmt.money(value)

    return {
        "total": r["dimension"] == "total", "dimension": dimension, "level": level,
        "contacted": fmt.integer(r["contacted"]), "responders_t": fmt.integer(r["responders_t"]),
        "rate_t": fmt.percent(r["rate_t"]), "control": fmt.integer(r["control"]),
        "responders_c": fmt.integer(r["responders_c"]), "rate_c": fmt.percent(r["rate_c"]),
        "uplift": fmt.points(r["uplift_abs"]),
        "uplift_ci": _points_interval(r["ci_low"], r["ci_high"], fmt, t),
        "uplift_rel": fmt.percent(r["uplift_rel"], 0), "p_value": fmt.pvalue(r["p_value"]),
        "rev_t": fmt.money(r["rev_t"]), "rev_c": fmt.money(r["rev_c"]),
        "incremental": fmt.money(r["incremental_revenue"]),
        "incremental_ci": _interval(r["inc_low"], r["inc_high"], fmt),
        "cuped": fmt.money(r["cuped_revenue"]),
        "cuped_ci": _interval(r["cuped_low"], r["cuped_high"], fmt),
        "variance_reduction": fmt.percent(r["variance_reduction"], 0),
        "cost": fmt.money(r["cost"]),
        "revenue_per_cost": ratio(r["revenue_per_cost"], 2),
        "margin_per_cost": ratio(r["margin_per_cost"], 2),
        "cost_per_order": money(r["cost_per_order"]),
    }


def _variant(r: Mapping[Any, Any], fmt: Formatter, t: Mapping[str, str]) -> dict[str, Any]:
    verdict = t["verdict_" + str(r["verdict"])]
    needed = r["needed_per_group"]
    if r["verdict"] == "no_winner" and needed is not SUPPRESSED and not pd.isna(needed) \
            and needed is not None:
        verdict = t["verdict_needed"].format(n=fmt.integer(needed))
    return {"offer": r["offer"], "variant": r["variant"],
            "contacted": fmt.integer(r["contacted"]),
            "responders_t": fmt.integer(r["responders_t"]), "rate_t": fmt.percent(r["rate_t"]),
            "control": fmt.integer(r["control"]), "responders_c": fmt.integer(r["responders_c"]),
            "rate_c": fmt.percent(r["rate_c"]), "verdict": verdict}


def _comparison(r: Mapping[Any, Any], fmt: Formatter, t: Mapping[str, str]) -> dict[str, Any]:
    def arm(name: Any) -> str:
        return t["control"] if name == "control" else f"{t['variant']} {name}"

    significant = r["significant"]
    return {"offer": r["offer"], "first": arm(r["first"]), "second": arm(r["second"]),
            "rate_first": fmt.percent(r["rate_first"]),
            "rate_second": fmt.percent(r["rate_second"]),
            "p_value": fmt.pvalue(r["p_value"]), "p_holm": fmt.pvalue(r["p_holm"]),
            "significant": "–" if significant is SUPPRESSED else
            t["yes"] if significant else t["no_lower"]}


def _order_channel(r: Mapping[Any, Any], fmt: Formatter,
                   t: Mapping[str, str]) -> dict[str, Any]:
    contact = r["contact_channel"]
    return {"contact": t["all_channels"] if contact is None or pd.isna(contact) else contact,
            "order": r["order_channel"],
            "buyers_t": fmt.integer(r["buyers_t"]), "buyers_c": fmt.integer(r["buyers_c"]),
            "rev_t": fmt.money(r["rev_t"]), "rev_c": fmt.money(r["rev_c"]),
            "incremental": fmt.money(r["incremental_revenue"]),
            "incremental_ci": _interval(r["inc_low"], r["inc_high"], fmt)}


# --- segment migration -------------------------------------------------------------------


def suppress_migration(migration: Migration | None, k: int) -> Migration | None:
    """Cells of 1..k-1 customers are hidden; the matrix's row and column sums are the segment
    sizes then and now (shown elsewhere), so a row or column with a single hidden cell has
    its smallest other cell hidden too, until none has. Flows of 1..k-1 are hidden."""
    if migration is None or migration.matrix.empty:
        return migration
    frame = migration.matrix.astype(object).copy()
    counts = {i: int(v) for i, v in zip(frame.index, migration.matrix["customers"], strict=True)}
    hidden = {i for i, v in counts.items() if 0 < v < k}
    lines = [list(part.index) for _, part in frame.groupby("from_segment")]
    lines += [list(part.index) for _, part in frame.groupby("to_segment")]
    changed = True
    while changed:
        changed = False
        for line in lines:
            shown = [i for i in line if i not in hidden]
            if len(line) - len(shown) == 1 and shown:
                hidden.add(min(shown, key=lambda i: (counts[i], str(i))))
                changed = True
    _hide(frame, sorted(hidden), ["customers"])
    marker: Any = SUPPRESSED
    flows = {key: marker if 0 < value < k else value for key, value in migration.flows.items()}
    return dataclasses.replace(migration, matrix=frame, flows=flows)


def migration_context(migration: Migration | None, fmt: Formatter,
                      t: Mapping[str, str]) -> dict[str, Any] | None:
    """The from x to matrix as rows of strings, and the flows in words."""
    if migration is None or migration.previous is None or migration.as_of is None:
        return None
    matrix = migration.matrix
    targets = sorted(set(matrix["to_segment"]))
    cells = {(r["from_segment"], r["to_segment"]): r["customers"]
             for r in matrix.to_dict("records")}
    rows = [{"segment": source or t["no_segment"],
             "cells": [fmt.integer(cells.get((source, target), 0)) for target in targets]}
            for source in sorted(set(matrix["from_segment"]))]
    flows = [(t["flow_" + key], fmt.integer(value)) for key, value in migration.flows.items()]
    return {"targets": targets, "rows": rows, "flows": flows,
            "title": t["migration_title"].format(previous=fmt.date(migration.previous),
                                                 now=fmt.date(migration.as_of)),
            "definition": t["migration_definition"].format(days=ACTIVE_DAYS)}


# --- customer value --------------------------------------------------------------------


MODEL_NAMES = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "paretonbd": "Pareto/NBD"}


def value_verdict(value: ValueSummary, fmt: Formatter, t: Mapping[str, str]) -> str | None:
    """The value model's holdout check in one sentence of the report's language."""
    if value.reason is not None:
        return None
    h = value.holdout
    if h is None:
        return t["clv_verdict_none"].format(
            reason=fmt.reason(value.holdout_reason, value.holdout_reason_code))
    counts = {"model": MODEL_NAMES.get(h["model"], h["model"]), "weeks": HOLDOUT_WEEKS,
              "customers": fmt.integer(h["customers"]), "predicted": fmt.number(h["predicted"], 0),
        "actual": fmt.number(h["actual"], 0),
        "threshold": fmt.number(h["threshold_percent"], 0)}
    error = h["error_percent"]
    if error is None:
        return t["clv_verdict_no_actual"].format(**counts)
    key = "clv_verdict_warn" if h["warning"] else "clv_verdict_ok"
    side = t["clv_over"] if error > 0 else t["clv_under"]
    return t[key].format(**counts, error=fmt.number(abs(error), 1), side=side)
