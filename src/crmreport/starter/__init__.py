"""The files ``crmreport init`` starts a project with (see crmreport.init)."""
