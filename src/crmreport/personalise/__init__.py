"""Personalise: render each recipient's email or letter from sandboxed Jinja2 templates.

    make_environment(template_dir, locale) -> Environment
    render_emails(recipients, env, EmailSettings, out_dir) -> EmailBatch   one .eml each
    render_letters(recipients, env, LetterSettings, out_path) -> LetterBatch   one merged PDF
"""

from crmreport.personalise.email import EmailBatch, EmailSettings, render_emails
from crmreport.personalise.letters import LetterBatch, LetterSettings, render_letters
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
    "format_date",
    "load_template",
    "make_environment",
    "money",
    "render",
    "render_emails",
    "render_letters",
    "template_candidates",
]
