"""Configuration: campaign and report YAML loaded into typed, validated models."""

from crmreport.config.loader import (
    LoadedCampaign,
    load_campaign,
    load_report,
    report_schema,
    schema,
    with_engine,
)
from crmreport.config.models import Campaign, Offer, Report, Segment, Source

__all__ = [
    "Campaign",
    "LoadedCampaign",
    "Offer",
    "Report",
    "Segment",
    "Source",
    "load_campaign",
    "load_report",
    "report_schema",
    "schema",
    "with_engine",
]
