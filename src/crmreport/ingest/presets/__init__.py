"""Mapping presets: the exports of the systems crmreport users bring, read as they are.

- crmreport: the canonical layout itself (the demo data); the default.
- shopify: customers export; orders export (one row per line item).
- woocommerce: Analytics customers and orders exports.
- hubspot: contacts export.
- salesforce: contact report exports (footer lines skipped).
- online-retail: UCI Online Retail invoice lines (orders + order_lines, or customers).
- cdnow: CDNOW purchase records (whitespace-separated).
- de-erp: German ERP customers and orders (';', cp1252, 1.234,56, 31.12.2024).

With the default mapping a file whose header lacks the canonical columns is matched against
each preset's signature (a few header names that together identify the export; CDNOW by its
first line); exactly one match is used and named in the account.
"""

from __future__ import annotations

from crmreport.ingest.presets.base import Feed, Preset, RawFile
from crmreport.ingest.presets.cdnow import PRESET as CDNOW
from crmreport.ingest.presets.de_erp import PRESET as DE_ERP
from crmreport.ingest.presets.hubspot import PRESET as HUBSPOT
from crmreport.ingest.presets.online_retail import PRESET as ONLINE_RETAIL
from crmreport.ingest.presets.salesforce import PRESET as SALESFORCE
from crmreport.ingest.presets.shopify import PRESET as SHOPIFY
from crmreport.ingest.presets.woocommerce import PRESET as WOOCOMMERCE
from crmreport.tables import TABLES

CRMREPORT = Preset(
    name="crmreport",
    description="the canonical layout (column names as in crmreport.tables)",
    columns={table: {c: c for c in columns} for table, columns in TABLES.items()},
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (CRMREPORT, SHOPIFY, WOOCOMMERCE, HUBSPOT, SALESFORCE, ONLINE_RETAIL, CDNOW, DE_ERP)
}

__all__ = ["PRESETS", "Feed", "Preset", "RawFile"]
