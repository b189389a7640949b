from crmreport.cli import run

run()
