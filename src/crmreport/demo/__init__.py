"""Demo: a deterministic synthetic shop data set to try every command on (``crmreport demo``).

The demo project (campaign, templates, report definition) is shipped as the packages
``crmreport.demo.campaigns``, ``.templates`` and ``.reports``; setup.py maps them from the
repository's top-level folders.
"""

from importlib import resources
from pathlib import Path

from crmreport.demo.generate import CAMPAIGNS, RESPONSE_LIFT, Campaign, DemoFiles, generate

__all__ = ["CAMPAIGNS", "RESPONSE_LIFT", "Campaign", "DemoFiles", "generate", "project_file"]


def project_file(folder: str, name: str) -> Path:
    """A file of the installed demo project, e.g. ``project_file("campaigns", "demo.yaml")``.

    A real path: the campaign's relative ``template_dir`` must resolve beside it.
    """
    return Path(str(resources.files(f"crmreport.demo.{folder}").joinpath(name)))
