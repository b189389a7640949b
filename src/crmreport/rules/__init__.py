"""Customize: segment and offer rules from the campaign YAML, checked before they run."""

from crmreport.config.models import UNASSIGNED
from crmreport.rules.assign import Assigned, CompiledRules, assign, compile_rules, load_lists
from crmreport.rules.expressions import (
    HELPERS,
    RuleProblem,
    check,
    compile_condition,
    used_lists,
)

__all__ = [
    "HELPERS",
    "UNASSIGNED",
    "Assigned",
    "CompiledRules",
    "RuleProblem",
    "assign",
    "check",
    "compile_condition",
    "compile_rules",
    "load_lists",
    "used_lists",
]
