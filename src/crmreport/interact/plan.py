"""From offers to a contact list: permission, suppression, history, caps, channel, holdout.

Every customer with an offer either gets a channel and a test group or one exclusion reason,
checked in this order (the first that applies is counted):

1. no_permission    no channel of the offer is allowed: email needs consent 'yes' and a valid
                    address; a letter needs a complete address and no objection to mail
2. suppressed       every allowed channel is on a suppression list (by id or email)
3. duplicate_email  another customer already gets an email at the same address
4. already_contacted  contacted (or held out) in this campaign before: reruns add no one
5. frequency_cap    the contact policy's cap on recent contacts is reached

Consent and suppression cannot be overridden by any rule or option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmreport.config import Campaign
from crmreport.engine import Connection
from crmreport.interact.groups import draw_sql

REASONS = ("no_permission", "suppressed", "duplicate_email", "already_contacted",
           "frequency_cap")


@dataclass
class Plan:
    """Counts at every step of building the contact list; nothing personal."""

    campaign: str
    as_of: str
    customers: int = 0
    segments: dict[str, int] = field(default_factory=dict)
    offers: dict[str, dict[str, int]] = field(default_factory=dict)  # offer -> eligible, chosen
    steps: list[tuple[str, int]] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    final: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    @property
    def treatment(self) -> int:
        return sum(g.get("treatment", 0) for ch in self.final.values() for g in ch.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign, "as_of": self.as_of, "customers": self.customers,
            "segments": self.segments, "offers": self.offers,
            "steps": [{"step": s, "customers": n} for s, n in self.steps],
            "excluded": self.excluded, "final": self.final,
        }


def plan_contacts(con: Connection, campaign: Campaign) -> Plan:
    """Create ``contact_plan`` (one row per customer with an offer) and count every step."""
    con.execute(_permissions_sql(campaign))
    con.execute(_plan_sql(campaign))
    return _count(con, campaign)


def _channel_choice(campaign: Campaign) -> str:
    """Per offer, the first channel in its preference order that is allowed and not suppressed."""
    whens = []
    for offer in campaign.offers:
        pick = " ".join(f"WHEN {ch}_ok AND NOT {ch}_suppressed THEN '{ch}'"
                        for ch in offer.channels)
        whens.append(f"WHEN offer = '{offer.id}' THEN CASE {pick} END")
    return f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS VARCHAR)"


def _any_allowed(campaign: Campaign) -> str:
    whens = [f"WHEN offer = '{o.id}' THEN ({' OR '.join(f'{ch}_ok' for ch in o.channels)})"
             for o in campaign.offers]
    return f"CASE {' '.join(whens)} END" if whens else "false"


def _permissions_sql(campaign: Campaign) -> str:
    def suppressed(channel: str) -> str:
        return (f"EXISTS (SELECT 1 FROM suppressions s WHERE s.channel IN ('{channel}', 'all') "
                "AND (s.customer_id = a.customer_id OR s.email = c.email))")

    return f"""
    CREATE OR REPLACE TEMP TABLE permissions AS
    SELECT a.customer_id, a.segment, a.offer, c.email,
           (c.email_consent = 'yes' AND c.email IS NOT NULL) AS email_ok,
           (NOT c.mail_objection AND a.has_address) AS letter_ok,
           {suppressed('email')} AS email_suppressed,
           {suppressed('letter')} AS letter_suppressed
    FROM assignments a JOIN customers c USING (customer_id)
    WHERE a.offer IS NOT NULL
    """


def _plan_sql(campaign: Campaign) -> str:
    day = f"DATE '{campaign.as_of.isoformat()}'"
    cap = campaign.policy.max_contacts
    capped = (f"(SELECT count(*) FROM contacts h WHERE h.customer_id = p.customer_id AND "
              f"h.test_group = 'treatment' AND h.contacted_at >= {day} - {cap.days} AND "
              f"h.contacted_at < {day}) >= {cap.count}") if cap else "false"
    return f"""
    CREATE OR REPLACE TABLE contact_plan AS
    WITH p AS (
        SELECT *, {_channel_choice(campaign)} AS chosen, {_any_allowed(campaign)} AS allowed
        FROM permissions
    ), d AS (
        SELECT *, chosen = 'email' AND row_number() OVER (PARTITION BY
                  CASE WHEN chosen = 'email' THEN email END ORDER BY customer_id) > 1 AS dup
        FROM p
    ), r AS (
        SELECT customer_id, segment, offer, chosen AS channel,
               CASE WHEN NOT coalesce(allowed, false) THEN 'no_permission'
                    WHEN chosen IS NULL THEN 'suppressed'
                    WHEN dup THEN 'duplicate_email'
                    WHEN customer_id IN (SELECT customer_id FROM contacts
                                         WHERE campaign = '{campaign.campaign}')
                        THEN 'already_contacted'
                    WHEN {capped} THEN 'frequency_cap' END AS excluded
        FROM d p
    )
    SELECT customer_id, segment, offer, channel, 'A' AS variant,
           CASE WHEN excluded IS NULL THEN
               CASE WHEN {draw_sql(campaign.policy.seed)} < {campaign.policy.control_group}
                    THEN 'control' ELSE 'treatment' END END AS test_group,
           excluded
    FROM r ORDER BY customer_id
    """


def _count(con: Connection, campaign: Campaign) -> Plan:
    plan = Plan(campaign=campaign.campaign, as_of=campaign.as_of.isoformat())
    plan.customers = _scalar(con, "SELECT count(*) FROM assignments")
    plan.segments = dict(con.execute(
        "SELECT segment, count(*) FROM assignments GROUP BY 1 ORDER BY 1").fetchall())
    for offer in campaign.offers:
        flag = f'"eligible:{offer.id}"'
        plan.offers[offer.id] = {
            "eligible": _scalar(con, f"SELECT count(*) FROM assignments WHERE {flag}"),
            "chosen": _scalar(con, f"SELECT count(*) FROM assignments WHERE offer = '{offer.id}'"),
        }
    excluded = dict(con.execute(
        "SELECT excluded, count(*) FROM contact_plan WHERE excluded IS NOT NULL GROUP BY 1"
    ).fetchall())
    plan.excluded = {r: excluded.get(r, 0) for r in REASONS}
    remaining = _scalar(con, "SELECT count(*) FROM contact_plan")
    plan.steps = [("with an offer", remaining)]
    for reason, label in zip(REASONS, ("permitted", "not suppressed", "unique email address",
                                       "new to this campaign", "under the contact cap"),
                             strict=True):
        remaining -= plan.excluded[reason]
        plan.steps.append((label, remaining))
    groups = con.execute("SELECT offer, channel, test_group, count(*) FROM contact_plan "
                         "WHERE excluded IS NULL GROUP BY ALL ORDER BY ALL").fetchall()
    for offer_id, channel, group, count in groups:
        plan.final.setdefault(offer_id, {}).setdefault(channel, {})[group] = count
    plan.steps.append(("held out as control",
                       sum(n for _, _, g, n in groups if g == "control")))
    plan.steps.append(("to contact", sum(n for _, _, g, n in groups if g == "treatment")))
    return plan


def _scalar(con: Connection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
