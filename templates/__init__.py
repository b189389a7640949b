"""The demo project's templates, installed as crmreport.demo.templates (see setup.py)."""
