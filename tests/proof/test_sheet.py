from pathlib import Path

from crmreport.proof import Preview, Proof
from crmreport.proof.sheet import contact_sheet


def test_the_sheet_escapes_what_templates_wrote_and_shows_problems() -> None:
    ok = Proof("best", "vip", "email", "A", "de_DE", 12, "C1", "01.eml", "01.html",
               subject="<script>alert(1)</script> & more")
    failed = Proof("best", "vip", "letter", "A", "en_GB", 1, "C2",
                   problem="letter/en/vip.html.j2 line 3: 'x' is undefined")
    html = contact_sheet(Preview("spring", "2026-03-01", Path("p"), False, [ok, failed]))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert '<iframe src="01.html" sandbox>' in html
    assert "12 recipients; proof for C1" in html and "1 recipient; proof for C2" in html
    assert 'class="card failed"' in html and "not rendered: letter/en/vip.html.j2 line 3" in html
    assert "2 proofs for 13 customers" in html
