"""Customize: segment and offer rules from the campaign YAML, checked before they run."""

from crmreport.config.models import UNASSIGNED
from crmreport.rules.assign import (
    Assigned,
    CompiledRules,
    assign,
    choice_sql,
    compile_rules,
    eligible_flag,
    load_lists,
    preferred,
)
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
    "choice_sql",
    "compile_condition",
    "compile_rules",
    "eligible_flag",
    "load_lists",
    "preferred",
    "used_lists",
]
