"""Loading campaign and report files: YAML -> typed models, every problem reported at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crmreport.config.models import (
    MATCH_COLUMNS,
    UNASSIGNED,
    Campaign,
    Engine,
    Report,
    SparkSettings,
    Variant,
)
from crmreport.config.yamlsource import KeyPath, LineMap, load_yaml
from crmreport.errors import ConfigError, Problem, closest

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class LoadedCampaign:
    """A validated campaign plus where it came from, for resolving paths and locating errors."""

    config: Campaign
    lines: LineMap
    path: Path
    data_dir: Path
    template_dir: Path

    def data_path(self, relative: str) -> Path:
        return (self.data_dir / relative).resolve()


def load_campaign(
    path: Path, data_dir: Path | None = None, today: dt.date | None = None
) -> LoadedCampaign:
    """Load a campaign; relative data paths start at ``data_dir`` (default: the file's folder).

    ``as_of: today`` is honoured only when written so, and resolves to ``today`` (default: the
    system date), so no hidden clock enters a run that names its date.
    """
    raw, lines = load_yaml(path)
    if isinstance(raw, dict) and raw.get("as_of") == "today":
        raw = {**raw, "as_of": (today or dt.date.today()).isoformat()}
    campaign = _validate(Campaign, raw, lines)
    problems = _cross_check(campaign, lines)
    if problems:
        raise ConfigError(problems)
    base = path.parent.resolve()
    return LoadedCampaign(
        config=campaign,
        lines=lines,
        path=path,
        data_dir=(data_dir or base).resolve(),
        template_dir=(base / campaign.template_dir).resolve(),
    )


def with_engine(loaded: LoadedCampaign, engine: Engine | None = None,
                master: str | None = None) -> LoadedCampaign:
    """The campaign with the command line's engine and Spark master in place of its own;
    ``master`` alone keeps the engine, so it is refused unless that engine is spark."""
    config = loaded.config
    if engine is not None:
        config = config.model_copy(update={"engine": engine})
    if master is not None:
        if not master.strip():
            raise ConfigError([Problem(str(loaded.path), None, "--spark-master",
                                       "the Spark master is empty",
                                       "give local[2], spark://host:7077 or sc://host:15002")])
        if config.engine != "spark":
            raise ConfigError([Problem(str(loaded.path), None, "--spark-master",
                                       "a Spark master is given but the engine is duckdb",
                                       "add --engine spark, or set engine: spark in the "
                                       "campaign")])
        spark = (config.spark or SparkSettings()).model_copy(update={"master": master})
        config = config.model_copy(update={"spark": spark})
    return dataclasses.replace(loaded, config=config)


def load_report(path: Path) -> Report:
    raw, lines = load_yaml(path)
    return _validate(Report, raw, lines)


def report_schema() -> str:
    """The JSON Schema of report definitions."""
    return json.dumps(Report.model_json_schema(by_alias=True), indent=2, sort_keys=True)


def schema() -> str:
    """The JSON Schema of campaign files, for editor completion and checking."""
    return json.dumps(Campaign.model_json_schema(by_alias=True), indent=2, sort_keys=True)


def _validate(model: type[M], raw: Any, lines: LineMap) -> M:
    if not isinstance(raw, dict):
        raise ConfigError([lines.problem((), "expected a mapping of keys at the top level",
                                         f"start from a {model.__name__.lower()} example")])
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_problem(model, err, lines) for err in exc.errors()]) from None


def _problem(model: type[BaseModel], err: Any, lines: LineMap) -> Problem:
    loc: KeyPath = tuple(p for p in err["loc"] if isinstance(p, str | int))
    kind = err["type"]
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        close = closest(str(loc[-1]), known)
        fix = f"did you mean '{close}'?" if close else f"known keys: {', '.join(sorted(known))}"
        return lines.problem(loc, "unknown key", fix)
    if kind == "missing":
        return lines.problem(loc, "required key is missing", "add it")
    if kind in _DATE_ERRORS and isinstance(err.get("input"), str):
        why = err.get("ctx", {}).get("error", "not a date")
        return lines.problem(loc, f"'{err['input']}' is not a valid date ({why})",
                             "write a day of the calendar as YYYY-MM-DD, e.g. 2026-02-28")
    return lines.problem(loc, err["msg"], _fix_for(kind))


_DATE_ERRORS = ("date_from_datetime_parsing", "date_parsing")


def _fix_for(kind: str) -> str:
    return {
        "string_pattern_mismatch": "use lower-case letters, digits, '-' and '_'",
        "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
        "date_parsing": "write the date as YYYY-MM-DD, or 'today'",
        "literal_error": "use one of the listed values",
    }.get(kind, "")


def _fields_at(model: type[BaseModel], loc: KeyPath) -> list[str]:
    """The keys allowed at ``loc`` inside ``model``, following nested models, lists and dicts."""
    target: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = target.model_fields if _is_model(target) else {}
        field = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        target = _unwrap(field.annotation)
    if not _is_model(target):
        return []
    return [f.alias or n for n, f in target.model_fields.items()]


def _unwrap(annotation: Any) -> Any:
    """The model inside Optional[...], list[...] or dict[..., ...], if any."""
    if _is_model(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        inner = _unwrap(arg)
        if _is_model(inner):
            return inner
    return annotation


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _cross_check(campaign: Campaign, lines: LineMap) -> list[Problem]:
    """Checks that span keys: unique ids, known segments, configured channels and templates."""
    problems: list[Problem] = []
    segment_ids = [s.id for s in campaign.segments]
    problems += _duplicates("segments", segment_ids, lines)
    problems += _history_problems(campaign, lines)
    problems += _identity_problems(campaign, lines)
    for i, ident in enumerate(segment_ids):
        if ident == UNASSIGNED:
            problems.append(lines.problem(("segments", i, "id"), f"'{UNASSIGNED}' is reserved "
                                          "for customers no segment rule matches",
                                          "give the segment another id"))
    problems += _duplicates("offers", [o.id for o in campaign.offers], lines)
    for i, offer in enumerate(campaign.offers):
        for j, seg in enumerate(offer.segments):
            if seg not in segment_ids:
                close = closest(seg, segment_ids)
                fix = f"did you mean '{close}'?" if close else "define it under segments"
                message = f"unknown segment '{seg}' in offer '{offer.id}'"
                problems.append(lines.problem(("offers", i, "segments", j), message, fix))
        for channel in offer.channels:
            if getattr(campaign.channels, channel) is None:
                problems.append(lines.problem(("offers", i, "channels"),
                                              f"channel '{channel}' is not configured",
                                              f"add channels.{channel}"))
            if channel not in offer.templates:
                problems.append(lines.problem(("offers", i, "templates"),
                                              f"no template for channel '{channel}'",
                                              f"add templates.{channel}"))
        if offer.variants is not None:
            problems += _check_variants(offer.variants, ("offers", i, "variants"), lines,
                                        offer.channels)
    if campaign.variants:
        channels = sorted({ch for o in campaign.offers for ch in o.channels})
        problems += _check_variants(campaign.variants, ("variants",), lines, channels)
    return problems


def _check_variants(variants: list[Variant], path: KeyPath, lines: LineMap,
                    channels: Sequence[str]) -> list[Problem]:
    """Variant ids unique, shares adding up to 1, templates only for channels in use."""
    problems = _duplicates_at(path, [v.id for v in variants], lines)
    total = sum(v.share for v in variants)
    if variants and abs(total - 1.0) > 1e-9:
        problems.append(lines.problem(path, f"variant shares add up to {total:g}, not 1",
                                      "make the shares add up to 1, e.g. 0.5 and 0.5"))
    for j, variant in enumerate(variants):
        for channel in variant.templates:
            if channel not in channels:
                problems.append(lines.problem(
                    (*path, j, "templates", channel),
                    f"variant '{variant.id}' has a template for channel '{channel}', "
                    "which the offer does not use", f"use one of {', '.join(channels)}"))
    return problems


def _duplicates_at(path: KeyPath, ids: list[str], lines: LineMap) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for i, ident in enumerate(ids):
        if ident in seen:
            out.append(lines.problem((*path, i, "id"), f"id '{ident}' is used twice",
                                     "give each entry its own id"))
        seen.add(ident)
    return out


def _history_problems(campaign: Campaign, lines: LineMap) -> list[Problem]:
    """The contact history is what keeps reruns and coupon codes from repeating."""
    history = campaign.data.contacts
    if history is None:
        pools = [i for i, o in enumerate(campaign.offers) if o.coupons]
        return [lines.problem(("offers", i, "coupons"), "coupon codes need a contact history "
                              "to stay unique across runs", "add data.contacts: contacts.csv")
                for i in pools[:1]]
    if not history.lower().endswith(".csv"):
        return [lines.problem(("data", "contacts"), "the contact history must be a .csv file",
                              "use a .csv path, e.g. contacts.csv")]
    return []


def _identity_problems(campaign: Campaign, lines: LineMap) -> list[Problem]:
    """Each identity rule names customer columns that describe who someone is."""
    problems = []
    for i, columns in enumerate(campaign.identity.match):
        for j, column in enumerate(columns):
            if column not in MATCH_COLUMNS:
                close = closest(column, list(MATCH_COLUMNS))
                fix = (f"did you mean '{close}'?" if close else
                       f"use customer columns: {', '.join(MATCH_COLUMNS)}")
                problems.append(lines.problem(("identity", "match", i, j),
                                              f"'{column}' is not a customer column to match "
                                              "on", fix))
    return problems


def _duplicates(section: str, ids: list[str], lines: LineMap) -> list[Problem]:
    return _duplicates_at((section,), ids, lines)
