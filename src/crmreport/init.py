"""``crmreport init``: a new project folder that passes ``crmreport check`` as it is.

It holds a commented campaign, email and letter templates in one language, a report
definition, a few hundred generated customers (the demo generator's data, so every column
and file is there) and data/README.md naming the columns and the presets. The starter files
are in ``crmreport/starter``; the shared layouts (email and letter base, macros) are the demo
project's. The templates show the legal footer through the merge fields ``imprint`` and
``objection_notice``, which build fills from the campaign's ``sender`` block.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from crmreport.errors import DataError
from crmreport.files import atomic_dir, write_text
from crmreport.tables import INPUTS

LANGUAGES = {"de": "de_DE", "en": "en_GB"}
SAMPLE_CUSTOMERS = 300
SHARED_TEMPLATES = ("email/base.html.j2", "letter/base.html.j2", "macros.j2")
_TITLES = {"de": "CRM-Monitoring", "en": "CRM monitoring"}


def is_empty_or_absent(folder: Path) -> bool:
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


def init_project(folder: Path, lang: str = "de") -> list[Path]:
    """Write the project into ``folder`` (absent or empty), all at once; return its files."""
    if lang not in LANGUAGES:
        raise DataError(f"init: language {lang!r} is not one of {', '.join(LANGUAGES)}")
    if not is_empty_or_absent(folder):
        raise DataError(f"{folder}: not an empty folder; init writes only into a new or "
                        "empty one")
    with atomic_dir(folder) as tmp:
        _write_project(tmp, lang)
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _write_project(out: Path, lang: str) -> None:
    from crmreport.demo import generate, project_file

    campaign = _starter("campaign.yaml").replace("@LOCALE@", LANGUAGES[lang])
    write_text(out / "campaign.yaml", campaign)
    write_text(out / "report.yaml", _starter("report.yaml").replace("@TITLE@", _TITLES[lang])
               .replace("@LANG@", lang))
    for name in SHARED_TEMPLATES:
        write_text(out / "templates" / name,
                   project_file("templates", name).read_text(encoding="utf-8"))
    for kind, name in (("email", "hello.txt.j2"), ("email", "hello.html.j2"),
                       ("letter", "hello.html.j2")):
        text = _starter(f"templates/{kind}/{lang}/{name}")
        # not in a language folder: every customer gets this language until another
        # language's templates are added under <kind>/<lang>/
        write_text(out / "templates" / kind / name, text)
    generate(out / "data", customers=SAMPLE_CUSTOMERS)
    write_text(out / "data" / "README.md", data_readme())


def _starter(name: str) -> str:
    return resources.files("crmreport.starter").joinpath(name).read_text(encoding="utf-8")


def data_readme() -> str:
    """data/README.md: the files, the canonical columns and the presets."""
    from crmreport.ingest.presets import PRESETS

    parts = ["# Data\n",
             "Sample data made by crmreport's demo generator; replace the files with your "
             "own exports and point `data:` in campaign.yaml at them. Each file's `mapping` "
             "is a preset below, `auto` (detected from the header), or your own "
             "`{canonical column: your column}`.\n",
             "## Files and their columns (the `crmreport` layout)\n"]
    files = {"customers": "customers.csv", "orders": "orders.csv",
             "order_lines": "order_lines.csv", "contacts": "contacts.csv (the contact "
             "history; build appends to it, do not edit)",
             "suppressions": "unsubscribes.csv"}
    for table in INPUTS:
        parts.append(f"- `{files.get(table.name, table.name)}`: "
                     + ", ".join(f"`{c}`" for c in table.columns) + "\n")
    parts.append("- `coupons.csv`: `code`, one unused coupon code a row\n")
    parts.append("\n## Presets\n\n")
    parts += [f"- `{name}`: {preset.description}\n" for name, preset in PRESETS.items()]
    return "".join(parts)
