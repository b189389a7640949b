"""The package list for setuptools; everything else is in pyproject.toml.

The demo project lives at the top level of the repository (campaigns/, templates/,
reports/), where users read and copy it. Mapping each folder into ``crmreport.demo`` ships it
in the wheel and, in an editable install, imports it from the checkout: one copy in git.
"""

from setuptools import find_namespace_packages, setup

DEMO_PROJECT = {f"crmreport.demo.{name}": name for name in ("campaigns", "templates", "reports")}
NOT_PACKAGES = ["__pycache__", "*.__pycache__"]


def packages() -> list[str]:
    """Every package, template folders included (setuptools wants data folders named)."""
    found = find_namespace_packages("src", include=["crmreport*"], exclude=NOT_PACKAGES)
    for package, folder in DEMO_PROJECT.items():
        found += [package, *(f"{package}.{sub}"
                             for sub in find_namespace_packages(folder, exclude=NOT_PACKAGES))]
    return found


setup(packages=packages(), package_dir={"": "src", **DEMO_PROJECT})
