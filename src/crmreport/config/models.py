"""Typed campaign and report definitions. The JSON Schema editors use is generated from these."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Identifier = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
]
Channel = Literal["email", "letter"]
TableName = Literal["customers", "orders", "order_lines", "suppressions", "contacts"]


# The segment of customers no rule matched; they are counted and never contacted.
UNASSIGNED = "unassigned"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Source(Model):
    """One input file and how its columns map onto a canonical table."""

    path: str
    mapping: str | dict[str, str] = Field(
        "crmreport", description="a preset name, or {canonical column: column in the file}"
    )


class Data(Model):
    customers: Source
    orders: Source
    order_lines: Source | None = None
    contacts: str | None = Field(
        None, description="the contact history: read for caps and response, appended by build"
    )
    suppressions: list[Source] = []
    currency_rates: str | None = Field(
        None, description="CSV of date, currency, rate (campaign-currency units per 1 unit of "
                          "that currency): orders in other currencies are converted at the "
                          "latest rate on or before the order date")


# Customer columns an identity rule may compare (crmreport.identify.persons.MATCH_COLUMNS).
MATCH_COLUMNS = ("email", "first_name", "last_name", "company", "street", "postal_code",
                 "city", "country")
MatchColumn = Annotated[str, Field(json_schema_extra={"enum": list(MATCH_COLUMNS)})]


class Identity(Model):
    """When customer records under different ids are one person, merged into one customer."""

    match: list[Annotated[list[MatchColumn], Field(min_length=1)]] = Field(
        [["email"]],
        description="sets of customer columns; records equal and non-empty on every column of "
                    "any one set are one person (transitively), kept under the id of the "
                    "first record in file order. Emails compare trimmed and lower-cased, other "
                    "columns also with inner spaces collapsed. [] merges no records")


# A name shown in reports per language, e.g. {de: Stammkunden, en: Regulars}.
Label = dict[Literal["de", "en"], Annotated[str, StringConstraints(min_length=1)]]


class Segment(Model):
    id: Identifier
    when: str = Field(description="SQL condition over the customer features")
    description: str = ""
    label: Label = Field({}, description="its name in reports per language (default: the id "
                                         "made readable)")


VariantId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]


class Variant(Model):
    """One arm of an A/B/n test: drawn per customer from md5("<seed>:variant:<customer_id>")."""

    id: VariantId
    share: float = Field(gt=0.0, le=1.0, description="share of the offer's customers")
    templates: dict[Channel, str] = Field(
        {}, description="templates of this variant per channel; the offer's are the default")


class Coupons(Model):
    """A pool of unique codes; each treated customer gets one never recorded in the history."""

    pool: str = Field(description="CSV with a 'code' column (else the first column), one a row")
    valid_days: int | None = Field(
        None, ge=1, le=3650,
        description="days a code is valid from as_of; templates show the last day as the merge "
                    "field coupon_valid_until (e.g. {{ coupon_valid_until | date(style='long') }})")


class Offer(Model):
    id: Identifier
    label: Label = Field({}, description="its name in reports per language (default: the id "
                                         "made readable)")
    segments: list[Identifier] = Field(min_length=1)
    when: str = "TRUE"
    priority: int = 0
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)] | str = Field(
        0.0, description="expected value of a response, breaks ties within a priority: a number, "
                         "or an expression per customer such as 'coalesce(clv_52w * 0.1, 5)' "
                         "(NULL, NaN and infinity count as 0)")
    channels: list[Channel] = Field(min_length=1, description="in order of preference")
    templates: dict[Channel, str]
    coupons: Coupons | None = None
    variants: list[Variant] | None = Field(
        None, description="A/B/n variants of this offer (default: the campaign's variants)")


class Cap(Model):
    count: int = Field(ge=1)
    days: int = Field(ge=1)


class Policy(Model):
    max_contacts: Cap | None = None
    quiet_days: int | None = Field(
        None, ge=1, description="no contact within this many days of the last contact of any "
                                "campaign")
    control_group: float = Field(0.1, ge=0.0, le=0.5)
    seed: str = Field(min_length=1)


class EmailChannel(Model):
    sender: str = Field(alias="from")
    reply_to: str | None = None
    unsubscribe_url: str = Field(description="https URL; {token} is replaced per recipient")
    unsubscribe_mailto: str = Field(description="mailto address for List-Unsubscribe")
    cost: float = Field(0.0, ge=0)
    max_bytes: int = Field(102_000, description="warn above this size (Gmail clips)")
    export_scores: bool = Field(
        False, description="also write the internal scores (RFM, P(alive), churn risk, CLV) "
                           "to esp.csv; off by default, an email service needs none of them")


class LetterChannel(Model):
    layout: Literal["din5008a", "din5008b"] = "din5008b"
    return_address: str = Field(description="the sender line above the address window")
    cost: float = Field(0.0, ge=0)
    split: bool = Field(False, description="also write one PDF per letter, letters/<number>"
                                           ".pdf, named by its number in print.csv")


class Channels(Model):
    email: EmailChannel | None = None
    letter: LetterChannel | None = None


class Response(Model):
    window_days: int = Field(30, ge=1, le=365)
    margin: float | None = Field(
        None, ge=0, le=1, description="gross margin as a share of net revenue, for the "
        "incremental margin per euro spent (not shown without it)")
    pre_days: int = Field(365, ge=1, le=3650, description="days before the contact whose "
                          "revenue is CUPED's covariate")


class Churn(Model):
    """The churn model: risk of no completed order within ``horizon_days``."""

    horizon_days: int = Field(90, ge=7, le=365, description="N: trained on the window "
                              "as_of - 2N .. as_of - N, checked on as_of - N .. as_of")


class Value(Model):
    """How customer value is modelled."""

    model: Literal["auto", "bgnbd", "mbgnbd", "paretonbd"] = Field(
        "bgnbd", description="purchase model: bgnbd, mbgnbd, paretonbd, or auto (each is "
                             "fitted without the last 26 weeks and the one that predicts them "
                             "best is used)")


# 'register' is the imprint's own word; that it shadows BaseModel.register (an abc hook no one
# calls on a model) is harmless, and pydantic's warning would open every command's output.
warnings.filterwarnings("ignore", 'Field name "register" in "Sender"', UserWarning)


class Sender(Model):
    """The company behind the campaign: the imprint every marketing email and letter carries."""

    company: str = Field(min_length=1)
    street: str = Field(min_length=1)
    postal_code: str = Field(min_length=1)
    city: str = Field(min_length=1)
    country: str = Field("DE", pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2")
    register: str | None = Field(None, description="e.g. 'Amtsgericht Dresden, HRB 12345'")
    managing_director: str | None = None
    vat_id: str | None = None
    email: str | None = Field(None, description="where customers object to advertising")


Engine = Literal["duckdb", "spark"]


class SparkSettings(Model):
    """Where the SQL runs when ``engine: spark``; rendering stays on this machine."""

    master: str = Field(
        "local[2]", min_length=1,
        description="local[N] (this machine, N cores), a cluster URL (spark://host:7077, "
                    "yarn, k8s://https://host:443) or a Spark Connect server "
                    "(sc://host:15002, Spark 4)")
    conf: dict[str, str] = Field(
        {}, description="Spark properties for the session, e.g. spark.executor.memory: 4g")


class Campaign(Model):
    campaign: Identifier
    label: Label = Field({}, description="the campaign's name in reports per language "
                                         "(default: the id)")
    labels: dict[str, Label] = Field(
        {}, description="names in reports for ids this file does not define: earlier "
                        "campaigns in the contact history and their offers and segments")
    as_of: dt.date
    locale: str = "de_DE"
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    template_dir: str = "../templates"
    data: Data
    segments: list[Segment] = Field(min_length=1)
    offers: list[Offer] = []
    lists: dict[Identifier, str] = Field(
        {}, description="named lists for in_list('<name>', <column>): name -> CSV path")
    variants: list[Variant] = Field(
        [], description="A/B/n variants for every offer without its own")
    policy: Policy
    channels: Channels
    sender: Sender | None = Field(
        None, description="the imprint (legal footer) on every email and letter")
    response: Response = Response()
    identity: Identity = Identity()
    churn: Churn = Churn()
    value: Value = Value()
    engine: Engine = Field(
        "duckdb", description="where the SQL runs: duckdb (embedded, default) or spark "
                              "(see spark; needs pip install 'crmreport[spark]' and Java)")
    spark: SparkSettings | None = Field(
        None, description="the Spark master and properties when engine is spark "
                          "(default: local[2])")


class Branding(Model):
    name: str = "crmreport"
    primary_color: str = Field("#1f4e79", pattern=r"^#[0-9a-fA-F]{6}$")
    accent_color: str = Field("#e07b00", pattern=r"^#[0-9a-fA-F]{6}$")
    font_family: str = "DejaVu Sans, Liberation Sans, sans-serif"
    logo: str | None = None
    client: str | None = Field(None, description="the client the report is for, on its cover")


class FailOn(Model):
    """Thresholds that make ``crmreport report`` exit 1 (after writing) for a CI job."""

    quarantined_share: float | None = Field(
        None, ge=0, le=1, description="fail when more than this share of the input rows is "
                                      "quarantined, e.g. 0.01")
    no_orders_in_period: bool = Field(
        False, description="fail when no customer bought in the reported period")
    revenue_drop: float | None = Field(
        None, gt=0, le=1, description="fail when revenue falls by more than this share "
                                      "against the previous period, e.g. 0.3")


class SummaryEmail(Model):
    """Headers of the summary email (``report --email``); without them the job sets them."""

    sender: str | None = Field(None, alias="from")
    to: list[str] = []


ReportSection = Literal["summary", "response", "retention", "segments", "clv", "data_quality"]


class Report(Model):
    report: Identifier
    title: str
    language: Literal["en", "de"] = "en"
    locale: str | None = Field(
        None, description="formats of numbers and dates, e.g. de_CH; default de_DE for "
                          "language de, en_GB for en; an unknown locale falls back to that")
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$", description="for money figures")
    min_cell_size: int = Field(10, ge=1)
    cohort_months: int = Field(12, ge=2, le=36)
    period: Literal["week", "month", "quarter"] = Field(
        "week", description="the executive summary's period: the last complete ISO week, "
                            "calendar month or quarter before the as-of date")
    branding: Branding = Branding()
    orientation: Literal["portrait", "landscape"] = Field(
        "portrait", description="the PDF's A4 page orientation")
    fail_on: FailOn = FailOn()
    email: SummaryEmail = SummaryEmail()
    sections: list[ReportSection] = [
        "summary", "response", "retention", "segments", "clv", "data_quality"]
