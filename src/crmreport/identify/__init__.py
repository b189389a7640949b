"""Identify: raw text tables -> typed canonical tables, every row loaded, merged or quarantined.

The rules, stated once:
- customers: one row per customer_id; later duplicate rows are merged into the first one
  (file order), filling only its empty fields. Emails are trimmed and lower-cased; an
  invalid email is blanked (flagged). Consent is yes/no/unknown; missing is unknown.
- orders: an empty customer_id is a guest checkout, kept apart with a NULL customer_id.
  Amounts are DECIMAL; an order in another currency than the campaign's is quarantined
  rather than added. Duplicate order ids are merged into the first.
- order_lines need a known order; suppressions need an email or a customer id.
"""

from __future__ import annotations

from crmreport.identify.build import build_tables

__all__ = ["build_tables"]
