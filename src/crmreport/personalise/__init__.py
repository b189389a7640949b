"""Personalise: render each recipient's email or letter from sandboxed Jinja2 templates.

    make_environment(template_dir, locale) -> Environment
    build_emails(recipients, env, EmailSettings, out_dir) -> EmailBatch   one .eml each
    build_letters(recipients, env, LetterSettings, out_path) -> LetterBatch   one merged PDF
"""

from crmreport.personalise.email import EmailBatch, EmailSettings, build_emails
from crmreport.personalise.letters import LetterBatch, LetterSettings, build_letters
from crmreport.personalise.templating import (
    TemplateCache,
    format_date,
    load_template,
    make_environment,
    money,
    render,
    template_candidates,
)

__all__ = [
    "EmailBatch",
    "EmailSettings",
    "LetterBatch",
    "LetterSettings",
    "TemplateCache",
    "build_emails",
    "build_letters",
    "format_date",
    "load_template",
    "make_environment",
    "money",
    "render",
    "template_candidates",
]
