"""The demo project's reports, installed as crmreport.demo.reports (see setup.py)."""
