"""A recorded run as the contact plan again: the same recipients, channels, variants and
coupon codes, read from the contact history, so fixed templates can be rendered anew.

Consent is checked again: a treated customer who has since lost the permission for their
channel, or been suppressed on it, or is gone from the data, is withheld (not rendered) and
counted by reason. The history is only read; nothing is appended.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from crmreport.errors import DataError
from crmreport.interact import history
from crmreport.interact.plan import offer_variants
from crmreport.run import Run
from crmreport.tables import ASSIGNMENTS, CONTACT_PLAN

PLAN_COLUMNS = ("customer_id", "segment", "offer", "channel", "variant", "test_group", "coupon")
NOT_IN_DATA = "not_in_data"


@dataclass
class Rerender:
    run_id: str
    recorded: int  # the run's rows in the history, treatment and control
    rows: list[tuple[str, ...]]  # PLAN_COLUMNS of the rows rendered again
    withheld: Counter[str] = field(default_factory=Counter)  # reason -> treated customers


def rerender_plan(run: Run, contacts: Path, run_id: str) -> Rerender:
    """Replace ``run``'s contact plan by run ``run_id`` of the history at ``contacts``."""
    config = run.loaded.config
    recorded = [r for r in history.run_rows(contacts, run_id)
                if r.get("campaign") == config.campaign]
    if not recorded:
        raise DataError(f"{contacts}: no run {run_id} of campaign {config.campaign} in the "
                        "contact history; the run ids are in its run_id column and in each "
                        "build's manifest.json")
    _check_same_campaign(run, recorded, run_id)
    rows = sorted(tuple(r.get(c) or "" for c in PLAN_COLUMNS) for r in recorded)
    _load_plan(run, rows)
    withheld = _withhold(run)
    kept = [r for r in rows if r[0] not in withheld]
    return Rerender(run_id, len(recorded), kept, Counter(withheld.values()))


def _check_same_campaign(run: Run, recorded: list[dict[str, str]], run_id: str) -> None:
    """The run's date and every offer and variant it used must still be in the campaign."""
    config = run.loaded.config
    days = {r.get("contacted_at") for r in recorded}
    if days != {config.as_of.isoformat()}:
        raise DataError(f"{run.loaded.path}: run {run_id} was made as of "
                        f"{', '.join(sorted(d or '?' for d in days))}, the campaign now says "
                        f"as_of: {config.as_of}; set as_of back to the run's date to render it "
                        "again")
    known = {(o.id, v) for o in config.offers for v, _ in offer_variants(config, o)}
    for row in recorded:
        if (row.get("offer"), row.get("variant")) not in known:
            raise DataError(f"{run.loaded.path}: run {run_id} used offer "
                            f"'{row.get('offer')}' variant '{row.get('variant')}', which the "
                            "campaign no longer has; restore it to render the run again")


def _load_plan(run: Run, rows: list[tuple[str, ...]]) -> None:
    frame = pd.DataFrame(rows, columns=list(PLAN_COLUMNS), dtype="object")
    frame["coupon"] = frame["coupon"].replace("", None)
    run.con.execute(CONTACT_PLAN.create())
    run.con.register("recorded_run", frame)
    run.con.execute(f"INSERT INTO {CONTACT_PLAN} BY NAME SELECT * FROM recorded_run")
    run.con.unregister("recorded_run")


def _withhold(run: Run) -> dict[str, str]:
    """Treated customers not to render again, with why: consent is never bypassed."""
    rows = run.con.execute(f"""
        SELECT p.customer_id, CASE
            WHEN c.customer_id IS NULL THEN '{NOT_IN_DATA}'
            WHEN p.channel = 'email' AND NOT coalesce(c.email_consent = 'yes'
                 AND c.email IS NOT NULL, false) THEN 'no_permission'
            WHEN p.channel = 'letter' AND NOT coalesce(NOT c.mail_objection
                 AND a.has_address, false) THEN 'no_permission'
            WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.channel IN (p.channel, 'all')
                 AND (s.customer_id = p.customer_id OR s.email = c.email OR s.customer_id IN
                      (SELECT c2.customer_id FROM customers c2 WHERE c2.email = c.email)))
                 THEN 'suppressed' END AS why
        FROM {CONTACT_PLAN} p LEFT JOIN customers c USING (customer_id)
        LEFT JOIN {ASSIGNMENTS} a USING (customer_id)
        WHERE p.test_group = 'treatment'""").fetchall()
    withheld = {cid: why for cid, why in rows if why is not None}
    if withheld:
        run.con.execute(f"UPDATE {CONTACT_PLAN} SET excluded = 'withheld' "
                        "WHERE list_contains(?, customer_id)", [list(withheld)])
    return withheld
