"""The contact sheet: every proof side by side, with its combination, how many customers
get it and its subject line. Plain HTML and CSS, no script, opened straight from the disk."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmreport.proof.preview import Preview, Proof

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; background: #f4f4f4; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
.note { color: #555; margin: 0 0 18px 0; font-size: 14px; }
.grid { display: flex; flex-wrap: wrap; gap: 16px; }
.card { background: #fff; width: 320px; border: 1px solid #ccc; border-radius: 6px;
        padding: 10px; font-size: 13px; }
.card.failed { border-color: #b00020; }
.combo { font-weight: bold; margin-bottom: 2px; }
.meta { color: #555; margin-bottom: 6px; }
.subject { margin-bottom: 8px; min-height: 2.6em; }
.frame { width: 300px; height: 400px; overflow: hidden; border: 1px solid #ddd;
         background: #fafafa; }
.frame iframe { width: 600px; height: 800px; border: 0; transform: scale(0.5);
                transform-origin: 0 0; }
.frame img { width: 300px; }
.problem { color: #b00020; white-space: pre-wrap; }
"""


def contact_sheet(preview: Preview) -> str:
    """index.html for the proofs folder."""
    cards = "\n".join(_card(p) for p in preview.proofs) or "<p>No one would be contacted.</p>"
    total = sum(p.recipients for p in preview.proofs)
    redacted = " Names, addresses and ids are fictitious (--redact)." if preview.redacted else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Proofs: {escape(preview.campaign)}</title><style>{_STYLE}</style></head>
<body>
<h1>Proofs of campaign {escape(preview.campaign)} as of {escape(preview.as_of)}</h1>
<p class="note">{len(preview.proofs)} proofs for {total:,} customers to contact. Coupon codes
show as a placeholder and unsubscribe links work for no one; nothing was recorded in the
contact history.{redacted}</p>
<div class="grid">
{cards}
</div>
</body></html>
"""


def _card(proof: Proof) -> str:
    combo = " · ".join(escape(part) for part in (proof.segment, proof.offer, proof.channel,
                                                 f"variant {proof.variant}",
                                                 proof.locale or "default locale"))
    meta = (f"{proof.recipients:,} recipient{'s' if proof.recipients != 1 else ''}; "
            f"proof for {escape(proof.customer_id)}")
    subject = escape(proof.subject) if proof.subject else "<i>(no subject)</i>"
    failed = " failed" if proof.problem else ""
    return f"""<div class="card{failed}">
<div class="combo">{combo}</div>
<div class="meta">{meta}</div>
<div class="subject">{subject}</div>
{_view(proof)}
</div>"""


def _view(proof: Proof) -> str:
    if proof.problem:
        return f'<div class="problem">not rendered: {escape(proof.problem)}</div>'
    link = f'<a href="{escape(proof.file)}">{escape(proof.file)}</a>'
    if proof.view.endswith(".html"):
        frame = (f'<div class="frame"><iframe src="{escape(proof.view)}" sandbox>'
                 '</iframe></div>')
        return f'{frame}<div><a href="{escape(proof.view)}">HTML view</a> · {link}</div>'
    if proof.view.endswith(".png"):
        return (f'<div class="frame"><a href="{escape(proof.file)}"><img '
                f'src="{escape(proof.view)}" alt="letter"></a></div><div>{link}</div>')
    return f"<div>{link}</div>"
