"""crmreport: customer relationship marketing from the command line.

Stages, each a package, imports flowing one way:
errors, config -> ingest -> identify -> features -> rules -> interact -> personalise ->
monitor -> report; ``pipeline`` wires them and ``cli`` is the only module importing click.
"""

__version__ = "0.1.0"
