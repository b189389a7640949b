"""A campaign evaluated as of its date: what ``pipeline.prepare`` hands to the jobs after it."""

from __future__ import annotations

from dataclasses import dataclass

from crmreport.account import Account
from crmreport.config import LoadedCampaign
from crmreport.engine import Connection
from crmreport.features import Featured, ValueModel
from crmreport.identify import Identified
from crmreport.interact import Plan, Planned
from crmreport.rules import Assigned, CompiledRules
from crmreport.tables import Table


@dataclass
class Run:
    """The engine holding every table of the run, the compiled rules, and what each stage
    made (its handle): the account of the input rows, the fitted value models, the contact
    plan's counts, and the catalogue tables each stage left in ``con``."""

    loaded: LoadedCampaign
    con: Connection
    rules: CompiledRules
    identified: Identified
    featured: Featured
    assigned: Assigned
    planned: Planned | None  # None: prepared without a contact plan (for a report)

    @property
    def account(self) -> Account:
        return self.identified.account

    @property
    def value(self) -> ValueModel:
        return self.featured.value

    @property
    def plan(self) -> Plan:
        if self.planned is None:
            raise ValueError("this run was prepared without a contact plan")
        return self.planned.plan

    @property
    def tables(self) -> tuple[Table, ...]:
        """Every table the stages made, in stage order."""
        return (*self.identified.tables, *self.featured.tables, *self.assigned.tables,
                *(self.planned.tables if self.planned else ()))
