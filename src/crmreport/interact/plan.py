"""From offers to a contact list: permission, suppression, history, caps, channel, holdout.

A customer gets the best offer (the rules' order: priority, value, file order) among those
they are eligible for that can reach them: one of its channels is allowed and not
suppressed. An offer that cannot is passed over for the next; when none can, the rules'
first choice stays and is excluded below as it always was (no_permission or suppressed).

Every customer with an offer either gets a channel and a test group or one exclusion reason,
checked in this order (the first that applies is counted):

1. no_permission    no channel of the offer is allowed: email needs consent 'yes' and a valid
                    address; a letter needs a complete address and no objection to mail
2. suppressed       every allowed channel is on a suppression list (by id or email)
3. duplicate_email  another customer already gets an email at the same address
4. already_contacted  contacted (or held out) in this campaign before: reruns add no one
5. frequency_cap    the contact policy's cap on recent contacts is reached
6. quiet_period     contacted by any campaign within the policy's quiet_days

Consent and suppression cannot be overridden by any rule or option. Customers excluded as
suppressed are also counted by the suppression list's reason code (unsubscribe, bounce,
objection, ...; one reason per customer, the alphabetically first of those that apply).
Those left get a test group (control or treatment, per customer from the seed), a variant
(an independent draw, see groups), a coupon code if the offer has a pool (treatment only),
and a cross-sell suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmreport.config import Campaign, Offer
from crmreport.engine import Connection
from crmreport.interact.coupons import CouponCount, assign_coupons
from crmreport.interact.crosssell import suggest
from crmreport.interact.groups import draw_sql, variant_sql
from crmreport.reasons import (
    ALREADY_CONTACTED,
    DUPLICATE_EMAIL,
    EXCLUSIONS,
    FREQUENCY_CAP,
    NO_PERMISSION,
    QUIET_PERIOD,
    SUPPRESSED,
)
from crmreport.rules import choice_sql, eligible_flag, preferred
from crmreport.tables import (
    ASSIGNMENTS,
    CONTACT_PLAN,
    CONTACTS,
    CUSTOMERS,
    PERMISSIONS,
    SUGGESTIONS,
    SUPPRESSIONS,
    Table,
)

# The exclusions' codes, order and step labels are declared in crmreport.reasons.
REASONS = tuple(r.code for r in EXCLUSIONS)


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
    suppression_reasons: dict[str, int] = field(default_factory=dict)
    final: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    variants: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    coupons: dict[str, CouponCount] = field(default_factory=dict)
    diff: dict[str, Any] | None = None  # against the last run; set by the pipeline

    @property
    def treatment(self) -> int:
        return sum(g.get("treatment", 0) for ch in self.final.values() for g in ch.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign, "as_of": self.as_of, "customers": self.customers,
            "segments": self.segments, "offers": self.offers,
            "steps": [{"step": s, "customers": n} for s, n in self.steps],
            "excluded": self.excluded, "suppression_reasons": self.suppression_reasons,
            "final": self.final, "variants": self.variants,
            "coupons": {o: c.as_dict() for o, c in self.coupons.items()},
            **({"diff": self.diff} if self.diff is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """A plan read back from its ``as_dict()`` (a plan.json); counts only, no diff."""
        return cls(campaign=data["campaign"], as_of=data["as_of"], customers=data["customers"],
                   segments=data["segments"], offers=data["offers"],
                   steps=[(s["step"], s["customers"]) for s in data["steps"]],
                   excluded=data["excluded"],
                   suppression_reasons=data.get("suppression_reasons", {}), final=data["final"],
                   variants=data.get("variants", {}))

    def counts(self) -> dict[str, int]:
        """Every count under a flat key, for comparing two plans."""
        flat = {"customers": self.customers, "to contact": self.treatment}
        flat |= {f"segments.{k}": v for k, v in self.segments.items()}
        flat |= {f"offers.{o}.{k}": v for o, d in self.offers.items() for k, v in d.items()}
        flat |= {f"steps.{s}": n for s, n in self.steps}
        flat |= {f"excluded.{k}": v for k, v in self.excluded.items()}
        flat |= {f"suppression_reasons.{k}": v for k, v in self.suppression_reasons.items()}
        flat |= final_counts(self.final)
        return flat


def final_counts(final: dict[str, dict[str, dict[str, int]]]) -> dict[str, int]:
    return {f"final.{o}.{ch}.{g}": n for o, chs in final.items() for ch, gs in chs.items()
            for g, n in gs.items()}


def diff_counts(before: dict[str, int], now: dict[str, int]) -> dict[str, dict[str, int]]:
    """Keys whose count changed (a key missing on one side counts as 0 there)."""
    return {k: {"before": before.get(k, 0), "now": now.get(k, 0),
                "change": now.get(k, 0) - before.get(k, 0)}
            for k in sorted(set(before) | set(now)) if before.get(k, 0) != now.get(k, 0)}


@dataclass(frozen=True)
class Planned:
    """What interact made: the plan's counts, and its tables."""

    plan: Plan
    tables: tuple[Table, ...]


def plan_contacts(con: Connection, campaign: Campaign, pools: dict[str, Path] | None = None,
                  used_coupons: set[str] | None = None) -> Planned:
    """Create ``contact_plan`` (one row per customer with an offer) and count every step.

    ``pools`` maps offer id -> coupon pool file; ``used_coupons`` are the codes in the
    history. ``permissions`` (what the plan is drawn from) and ``suggestions`` (cross-sell
    per customer) are created alongside.
    """
    con.execute(_permissions_sql(campaign))
    con.execute(CONTACT_PLAN.create())  # coupon stays NULL until assign_coupons fills it
    con.execute(_plan_sql(campaign))
    coupons = assign_coupons(con, pools or {}, used_coupons or set(),
                             [o.id for o in campaign.offers])
    suggest(con)
    plan = _count(con, campaign)
    plan.coupons = coupons
    return Planned(plan, (PERMISSIONS, CONTACT_PLAN, SUGGESTIONS))


def offer_variants(campaign: Campaign, offer: Offer) -> list[tuple[str, float]]:
    """The offer's variants as (id, share), the campaign's if it has none; else one, 'A'."""
    variants = offer.variants if offer.variants is not None else campaign.variants
    return [(v.id, v.share) for v in variants] or [("A", 1.0)]


def _variant_choice(campaign: Campaign) -> str:
    seed = campaign.policy.seed
    whens = [f"WHEN offer = '{o.id}' THEN {variant_sql(seed, offer_variants(campaign, o))}"
             for o in campaign.offers]
    return f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS VARCHAR)"


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


def reachable_sql(offer: Offer) -> str:
    """SQL over a ``permissions`` row: true when a channel of ``offer`` is allowed and not
    suppressed, so the offer can reach the customer."""
    return " OR ".join(f"({ch}_ok AND NOT {ch}_suppressed)" for ch in offer.channels)


def _permissions_sql(campaign: Campaign) -> str:
    """Per customer with an offer: may we email, may we write, the suppression reasons, and
    the offer: the best eligible one that can reach them, else the rules' first choice (which
    is then excluded for no permission or suppression, as it would have been)."""
    def reason(channel: str) -> str:
        return (f"min(s.reason) FILTER (WHERE s.channel IN ('{channel}', 'all')) "
                f"AS {channel}_suppression")

    def can_get(offer: Offer) -> str:
        return f"{eligible_flag(offer)} AND ({reachable_sql(offer)})"

    reaching = choice_sql(preferred(campaign.offers), can_get)
    return f"""
    CREATE OR REPLACE TEMP TABLE {PERMISSIONS} AS
    WITH b AS (
        SELECT a.customer_id, a.segment, a.offer AS first_choice, c.email,
               coalesce(c.email_consent = 'yes' AND c.email IS NOT NULL, false) AS email_ok,
               coalesce(NOT c.mail_objection AND a.has_address, false) AS letter_ok
        FROM {ASSIGNMENTS} a JOIN {CUSTOMERS} c USING (customer_id)
        WHERE a.offer IS NOT NULL
    ), hits AS (
        SELECT b.customer_id, s.channel, s.reason FROM b JOIN {SUPPRESSIONS} s
            ON s.customer_id = b.customer_id
        UNION ALL
        SELECT b.customer_id, s.channel, s.reason FROM b JOIN {SUPPRESSIONS} s ON s.email = b.email
        UNION ALL  -- an address suppressed through its customer is suppressed for everyone
        SELECT b.customer_id, s.channel, s.reason FROM b
        JOIN {CUSTOMERS} c2 ON c2.email = b.email AND c2.customer_id <> b.customer_id
        JOIN {SUPPRESSIONS} s ON s.customer_id = c2.customer_id AND s.channel IN ('email', 'all')
    ), sup AS (
        SELECT customer_id, {reason('email')}, {reason('letter')} FROM hits s GROUP BY 1
    ), p AS (
        SELECT b.*, sup.email_suppression, sup.letter_suppression,
               sup.email_suppression IS NOT NULL AS email_suppressed,
               sup.letter_suppression IS NOT NULL AS letter_suppressed
        FROM b LEFT JOIN sup USING (customer_id)
    )
    SELECT p.customer_id, p.segment, coalesce({reaching}, p.first_choice) AS offer,
           p.first_choice, p.email, p.email_ok, p.letter_ok, p.email_suppression,
           p.letter_suppression, p.email_suppressed, p.letter_suppressed
    FROM p JOIN {ASSIGNMENTS} USING (customer_id) ORDER BY customer_id
    """


def _suppression_reason(campaign: Campaign) -> str:
    """For a suppressed customer: the first reason among the offer's allowed channels."""
    whens = []
    for offer in campaign.offers:
        parts = [f"CASE WHEN {ch}_ok THEN {ch}_suppression END" for ch in offer.channels]
        whens.append(f"WHEN offer = '{offer.id}' THEN "
                     + (f"least({', '.join(parts)})" if len(parts) > 1 else parts[0]))
    return f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS VARCHAR)"


def exclusion_conditions(campaign: Campaign) -> dict[str, str]:
    """Per exclusion code, SQL over a customer's row in ``_plan_sql``: true when it applies."""
    day = f"DATE '{campaign.as_of.isoformat()}'"
    cap, quiet = campaign.policy.max_contacts, campaign.policy.quiet_days
    recent = (f"FROM {CONTACTS} h WHERE h.customer_id = p.customer_id AND "
              f"h.test_group = 'treatment' AND h.contacted_at <= {day}")
    # "the last N days" is (as_of - N, as_of]: a contact on as_of by another campaign counts
    capped = (f"(SELECT count(*) {recent} AND h.contacted_at > {day} - {cap.days}) "
              f">= {cap.count}") if cap else "false"
    quieted = (f"EXISTS (SELECT 1 {recent} AND h.contacted_at > {day} - {quiet})"
               if quiet else "false")
    return {
        NO_PERMISSION: "NOT coalesce(allowed, false)",
        SUPPRESSED: "chosen IS NULL",
        DUPLICATE_EMAIL: "dup",
        ALREADY_CONTACTED: f"customer_id IN (SELECT customer_id FROM {CONTACTS} WHERE "
                           f"campaign = '{campaign.campaign}' AND customer_id IS NOT NULL)",
        FREQUENCY_CAP: capped,
        QUIET_PERIOD: quieted,
    }


def _excluded_sql(campaign: Campaign) -> str:
    """The first exclusion that applies, in the registry's order of judgement."""
    conditions = exclusion_conditions(campaign)
    if set(conditions) != set(REASONS):
        raise AssertionError(f"the plan judges {sorted(conditions)}, declared are {REASONS}")
    return "CASE " + " ".join(f"WHEN {conditions[code]} THEN '{code}'" for code in REASONS) + \
        " END"


def _plan_sql(campaign: Campaign) -> str:
    return f"""
    INSERT INTO {CONTACT_PLAN} BY NAME
    WITH p AS (
        SELECT *, {_channel_choice(campaign)} AS chosen, {_any_allowed(campaign)} AS allowed,
               {_suppression_reason(campaign)} AS suppression
        FROM {PERMISSIONS}
    ), d AS (
        SELECT *, chosen = 'email' AND row_number() OVER (PARTITION BY
                  CASE WHEN chosen = 'email' THEN email END ORDER BY customer_id) > 1 AS dup
        FROM p
    ), r AS (
        SELECT customer_id, segment, offer, chosen AS channel, suppression,
               {_excluded_sql(campaign)} AS excluded
        FROM d p
    )
    SELECT customer_id, segment, offer, channel,
           CASE WHEN excluded IS NULL THEN {_variant_choice(campaign)} END AS variant,
           CASE WHEN excluded IS NULL THEN
               CASE WHEN {draw_sql(campaign.policy.seed)} < {campaign.policy.control_group}
                    THEN 'control' ELSE 'treatment' END END AS test_group,
           excluded,
           CASE WHEN excluded = '{SUPPRESSED}' THEN suppression END AS suppression_reason
    FROM r ORDER BY customer_id
    """


def _count(con: Connection, campaign: Campaign) -> Plan:
    plan = Plan(campaign=campaign.campaign, as_of=campaign.as_of.isoformat())
    plan.customers = _scalar(con, f"SELECT count(*) FROM {ASSIGNMENTS}")
    plan.segments = dict(con.execute(
        f"SELECT segment, count(*) FROM {ASSIGNMENTS} GROUP BY 1 ORDER BY 1").fetchall())
    for offer in campaign.offers:
        flag, mine = eligible_flag(offer), f"'{offer.id}'"
        plan.offers[offer.id] = {
            "eligible": _scalar(con, f"SELECT count(*) FROM {ASSIGNMENTS} WHERE {flag}"),
            "chosen": _scalar(con, f"SELECT count(*) FROM {PERMISSIONS} WHERE offer = {mine}"),
            # the rules' first choice, given up for an offer that reaches the customer
            "passed_over": _scalar(con, f"SELECT count(*) FROM {PERMISSIONS} WHERE "
                                        f"first_choice = {mine} AND offer <> {mine}"),
        }
    excluded = dict(con.execute(
        f"SELECT excluded, count(*) FROM {CONTACT_PLAN} WHERE excluded IS NOT NULL GROUP BY 1"
    ).fetchall())
    plan.excluded = {r: excluded.get(r, 0) for r in REASONS}
    plan.suppression_reasons = dict(con.execute(
        f"SELECT coalesce(suppression_reason, 'unspecified'), count(*) FROM {CONTACT_PLAN} "
        f"WHERE excluded = '{SUPPRESSED}' GROUP BY 1 ORDER BY 1").fetchall())
    remaining = _scalar(con, f"SELECT count(*) FROM {CONTACT_PLAN}")
    plan.steps = [("with an offer", remaining)]
    for reason in EXCLUSIONS:
        remaining -= plan.excluded[reason.code]
        plan.steps.append((str(reason.step), remaining))
    groups = con.execute("SELECT offer, channel, variant, test_group, count(*) FROM "
                         f"{CONTACT_PLAN} WHERE excluded IS NULL GROUP BY ALL ORDER BY ALL"
                         ).fetchall()
    for offer_id, channel, variant, group, count in groups:
        by_channel = plan.final.setdefault(offer_id, {}).setdefault(channel, {})
        by_channel[group] = by_channel.get(group, 0) + count
        by_variant = plan.variants.setdefault(offer_id, {}).setdefault(variant, {})
        by_variant[group] = by_variant.get(group, 0) + count
    plan.steps.append(("held out as control",
                       sum(n for *_, g, n in groups if g == "control")))
    plan.steps.append(("to contact", sum(n for *_, g, n in groups if g == "treatment")))
    return plan


def _scalar(con: Connection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
