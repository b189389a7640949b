"""Interact: who is contacted on which channel, who is held out, and the contact history."""

from crmreport.interact import history
from crmreport.interact.coupons import CouponCount, read_pool, shortage_message
from crmreport.interact.groups import draw, draw_sql, is_control, pick_variant, variant_sql
from crmreport.interact.plan import (
    REASONS,
    Plan,
    Planned,
    diff_counts,
    final_counts,
    offer_variants,
    plan_contacts,
)

__all__ = [
    "REASONS",
    "CouponCount",
    "Plan",
    "Planned",
    "diff_counts",
    "draw",
    "draw_sql",
    "final_counts",
    "history",
    "is_control",
    "offer_variants",
    "pick_variant",
    "plan_contacts",
    "read_pool",
    "shortage_message",
    "variant_sql",
]
