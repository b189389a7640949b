"""Interact: who is contacted on which channel, who is held out, and the contact history."""

from crmreport.interact import history
from crmreport.interact.groups import draw, draw_sql, is_control
from crmreport.interact.plan import REASONS, Plan, plan_contacts

__all__ = ["REASONS", "Plan", "draw", "draw_sql", "history", "is_control", "plan_contacts"]
