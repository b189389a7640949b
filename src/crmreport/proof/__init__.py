"""Proof before sending: preview proofs, re-rendering a recorded run, and dry runs.

    write_proofs(run, out_dir, customer_id=None, redact=False) -> Preview
    rerender_plan(run, contacts_path, run_id) -> Rerender    a recorded run as the contact plan

Nothing here appends to the contact history or takes codes from a coupon pool.
"""

from crmreport.proof.preview import PLACEHOLDER_COUPON, Preview, Proof, write_proofs
from crmreport.proof.rerender import Rerender, rerender_plan

__all__ = ["PLACEHOLDER_COUPON", "Preview", "Proof", "Rerender", "rerender_plan",
           "write_proofs"]
