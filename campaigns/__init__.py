"""The demo project's campaigns, installed as crmreport.demo.campaigns (see setup.py)."""
