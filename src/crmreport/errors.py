"""The exceptions crmreport raises. Every one says what is wrong and how to fix it.

    CrmError                 base; the CLI maps it to exit code 1
    ├── ConfigError          campaign or report YAML is invalid (carries every Problem at once)
    │   └── RuleError        a segment or offer condition is rejected
    ├── DataError            an input file cannot be read or lacks a required column
    ├── TemplateError        a template is missing, broken, or needs a field a customer lacks
    └── RenderError          a PDF or chart could not be produced (browser, fonts)

Messages never carry personal data: they name files, lines, keys, columns and customer ids.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One mistake in a configuration file, located and with a suggested fix."""

    file: str
    line: int | None
    key: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text} ({self.fix})" if self.fix else text


class CrmError(Exception):
    """Base of every error crmreport reports to the user."""


class ConfigError(CrmError):
    """A configuration file has one or more problems; all are listed."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RuleError(ConfigError):
    """A rule expression is not allowed or refers to something unknown."""


class DataError(CrmError):
    """An input file cannot be used as it is."""


class TemplateError(CrmError):
    """A template cannot be loaded or rendered for a customer."""


class RenderError(CrmError):
    """A document or chart could not be produced."""


def closest(word: str, options: list[str]) -> str | None:
    """The option a user most likely meant: a prefix or containing match first, then spelling."""
    lowered = word.lower()
    contained = sorted((o for o in options if o.lower().startswith(lowered)
                        or lowered in o.lower()), key=len)
    if contained:
        return contained[0]
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches else None
