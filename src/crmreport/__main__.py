from crmreport.cli import main

main()
