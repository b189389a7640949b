"""Demo: a deterministic synthetic shop data set to try every command on (``crmreport demo``)."""

from crmreport.demo.generate import CAMPAIGNS, RESPONSE_LIFT, Campaign, DemoFiles, generate

__all__ = ["CAMPAIGNS", "RESPONSE_LIFT", "Campaign", "DemoFiles", "generate"]
