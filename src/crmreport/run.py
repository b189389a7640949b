"""A campaign evaluated as of its date: what ``pipeline.prepare`` hands to the jobs after it."""

from __future__ import annotations

from dataclasses import dataclass

from crmreport.account import Account
from crmreport.config import LoadedCampaign
from crmreport.engine import Connection
from crmreport.features import ValueModel
from crmreport.interact import Plan
from crmreport.rules import CompiledRules


@dataclass
class Run:
    """The engine holding every table of the run, the account of its input rows, the compiled
    rules, the fitted value models and the contact plan's counts."""

    loaded: LoadedCampaign
    con: Connection
    account: Account
    plan: Plan
    value: ValueModel
    rules: CompiledRules
