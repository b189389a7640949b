"""Why one customer gets this offer on this channel, or why not: every verdict in order.

Shows the customer's features (never name, email or address), each segment rule's verdict
(true, false or null), each offer's eligibility and value, the channel decision with its
reasons, and the test group, variant and coupon, or the exclusion with its reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crmreport.config import Campaign, Offer
from crmreport.engine import Connection
from crmreport.errors import DataError
from crmreport.reasons import (
    ALREADY_CONTACTED,
    DUPLICATE_EMAIL,
    FREQUENCY_CAP,
    NO_PERMISSION,
    QUIET_PERIOD,
    SUPPRESSED,
)
from crmreport.rules import CompiledRules
from crmreport.tables import (
    ASSIGNMENTS,
    CONTACT_PLAN,
    CONTACTS,
    CUSTOMER_IDS,
    FEATURES,
    PERMISSIONS,
    SUGGESTIONS,
)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _row(con: Connection, sql: str, params: list[Any]) -> dict[str, Any] | None:
    cursor = con.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return {d[0]: v for d, v in zip(cursor.description or [], row, strict=True)}


@dataclass(frozen=True)
class SegmentVerdict:
    """One segment rule: its condition and what it said about the customer."""

    id: str
    when: str
    verdict: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "when": self.when, "verdict": self.verdict}


@dataclass(frozen=True)
class OfferVerdict:
    """One offer: whether the customer is in its segments, meets its condition, is eligible."""

    id: str
    segments: list[str]
    in_segment: bool
    when: str
    verdict: bool | None
    eligible: bool
    priority: int
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "segments": self.segments, "in_segment": self.in_segment,
                "when": self.when, "verdict": self.verdict, "eligible": self.eligible,
                "priority": self.priority, "value": self.value}


@dataclass(frozen=True)
class ChannelVerdict:
    """One channel: in the offer, allowed, suppressed (the list's reason), and why."""

    in_offer: bool
    allowed: bool
    suppressed: str | None
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"in_offer": self.in_offer, "allowed": self.allowed,
                "suppressed": self.suppressed, "why": self.why}


CONTACTED = ("contact", "control")


@dataclass(frozen=True)
class Decision:
    """The outcome: unassigned, no_offer, excluded (with its code), contact or control.

    The channel verdicts and the offer's reason exist once there is an offer; the contact's
    details (channel, group, variant, coupon, suggestion) only for contact and control.
    """

    status: str
    reason: str
    channels: dict[str, ChannelVerdict] | None = None
    why_offer: str | None = None
    excluded: str | None = None
    channel: str | None = None
    test_group: str | None = None
    variant: str | None = None
    coupon: str | None = None
    suggested_category: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.channels is not None:
            out |= {"channels": {ch: v.as_dict() for ch, v in self.channels.items()},
                    "why_offer": self.why_offer}
        if self.status == "excluded":
            out["excluded"] = self.excluded
        if self.status in CONTACTED:
            out |= {"channel": self.channel, "test_group": self.test_group,
                    "variant": self.variant, "coupon": self.coupon,
                    "suggested_category": self.suggested_category}
        return out


@dataclass(frozen=True)
class Explanation:
    """Every decision about one customer in one campaign; ``as_dict`` is explain's JSON."""

    customer_id: str
    campaign: str
    as_of: str
    features: dict[str, Any]
    segments: list[SegmentVerdict]
    segment: str | None
    offers: list[OfferVerdict]
    offer: str | None
    decision: Decision
    asked: str  # the id asked for; customer_id is its person's (``identity``)
    merged_ids: list[str]  # the other ids merged into this customer
    identity: str | None  # how the two relate, in words, when records were merged

    def as_dict(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "asked": self.asked,
                "merged_ids": self.merged_ids, "identity": self.identity,
                "campaign": self.campaign, "as_of": self.as_of, "features": self.features,
                "segments": [s.as_dict() for s in self.segments], "segment": self.segment,
                "offers": [o.as_dict() for o in self.offers], "offer": self.offer,
                "decision": self.decision.as_dict()}


def explain_customer(con: Connection, campaign: Campaign, rules: CompiledRules,
                     customer_id: str) -> Explanation:
    """Every decision about ``customer_id`` in this campaign; for an id merged into another
    record of the same person, the decisions about that person."""
    asked, customer_id, merged = _person(con, customer_id)
    features = _row(con, f"SELECT * FROM {FEATURES} WHERE customer_id = ?", [customer_id])
    if features is None:
        raise DataError(f"customer {customer_id} is not in the customers file (after "
                        "cleaning); run `crmreport check` to see quarantined rows")

    def verdict(sql: str) -> bool | None:
        row = con.execute(f"SELECT {sql} FROM {FEATURES} WHERE customer_id = ?",
                          [customer_id]).fetchone()
        return None if row is None or row[0] is None else bool(row[0])

    assigned = _row(con, f"SELECT * FROM {ASSIGNMENTS} WHERE customer_id = ?",
                    [customer_id]) or {}
    when = {s.id: s.when for s in campaign.segments}
    segments = [SegmentVerdict(sid, when[sid], verdict(sql)) for sid, sql in rules.segments]
    order = {o.id: i for i, o in enumerate(campaign.offers)}
    offers = [OfferVerdict(
        id=offer.id, segments=offer.segments,
        in_segment=assigned.get("segment") in offer.segments, when=offer.when,
        verdict=verdict(sql), eligible=bool(assigned.get(f"eligible:{offer.id}")),
        priority=offer.priority, value=assigned.get(f"value:{offer.id}"),
    ) for offer, sql in sorted(rules.offers, key=lambda t: order[t[0].id])]
    perm = _row(con, f"SELECT * FROM {PERMISSIONS} WHERE customer_id = ?", [customer_id]) or {}
    segment, offer_id = assigned.get("segment"), perm.get("offer")
    return Explanation(
        customer_id=customer_id, campaign=campaign.campaign, as_of=campaign.as_of.isoformat(),
        features={k: _plain(v) for k, v in features.items()}, segments=segments,
        segment=segment, offers=offers, offer=offer_id,
        decision=_decision(con, campaign, customer_id, features, perm, segment, offers),
        asked=asked, merged_ids=merged, identity=_identity(asked, customer_id, merged))


def _person(con: Connection, customer_id: str) -> tuple[str, str, list[str]]:
    """The id asked for, the id of its person, and the other ids merged into that person."""
    row = con.execute(f"SELECT person_id FROM {CUSTOMER_IDS} WHERE customer_id = ?",
                      [customer_id]).fetchone()
    person = row[0] if row else customer_id
    merged = [r[0] for r in con.execute(
        f"SELECT customer_id FROM {CUSTOMER_IDS} WHERE person_id = ? AND customer_id <> "
        "person_id ORDER BY rowid", [person]).fetchall()]
    return customer_id, person, merged


def _identity(asked: str, person: str, merged: list[str]) -> str | None:
    """How the id asked for relates to the customer explained, when records were merged."""
    if asked != person:
        return (f"customer {asked} was merged into {person}, the first record of the same "
                "person (campaign identity.match); explaining that customer")
    if merged:
        return (f"customer {person} is one person with {', '.join(merged)} (merged by "
                "identity.match); their orders, contacts and suppressions count here")
    return None


def _decision(con: Connection, campaign: Campaign, cid: str, features: dict[str, Any],
              perm: dict[str, Any], segment: str | None, offers: list[OfferVerdict]
              ) -> Decision:
    if segment == "unassigned":
        return Decision("unassigned", "no segment rule matched")
    if not perm:
        return Decision("no_offer", f"no offer is eligible in segment '{segment}'")
    offer = next(o for o in campaign.offers if o.id == perm["offer"])
    plan = _row(con, f"SELECT * FROM {CONTACT_PLAN} WHERE customer_id = ?", [cid]) or {}
    channels = {ch: _channel(ch, offer, features, perm) for ch in ("email", "letter")}
    why_offer = _why_offer(campaign, offers, offer, features, perm)
    excluded = plan.get("excluded")
    if excluded:
        detail = _exclusion(con, campaign, cid, offer, channels, excluded)
        return Decision("excluded", f"{excluded}: {detail}", channels, why_offer,
                        excluded=excluded)
    suggestion = con.execute(f"SELECT suggested_category FROM {SUGGESTIONS} WHERE customer_id = ?",
                             [cid]).fetchone()
    channel = plan["channel"]
    earlier = offer.channels[:offer.channels.index(channel)]
    why = (f"{channel}: the offer's first channel and allowed" if not earlier else
           f"{channel}: fallback, " + "; ".join(f"{ch}: {channels[ch].why}" for ch in earlier))
    control = plan["test_group"] == "control"
    return Decision(
        "control" if control else "contact",
        why + ("; held out as control (no contact, measured against)" if control else ""),
        channels, why_offer, channel=channel, test_group=plan["test_group"],
        variant=plan["variant"], coupon=plan.get("coupon"),
        suggested_category=suggestion[0] if suggestion else None)


def _channel(channel: str, offer: Offer, features: dict[str, Any],
             perm: dict[str, Any]) -> ChannelVerdict:
    if channel == "email":
        ok = bool(perm.get("email_ok"))
        why = ("no valid email address" if not features.get("has_email")
               else f"email_consent is {features.get('email_consent') or 'unknown'}")
    else:
        ok = bool(perm.get("letter_ok"))
        why = "a letter is not allowed: " + ("mail_objection" if features.get("mail_objection")
                                              else "incomplete postal address")
    suppression = perm.get(f"{channel}_suppression")
    if channel not in offer.channels:
        return ChannelVerdict(False, ok, suppression,
                              f"offer '{offer.id}' has no {channel} channel")
    if ok and suppression:
        why = f"{SUPPRESSED}: {suppression}"
    return ChannelVerdict(True, ok, suppression, "allowed" if ok and not suppression else why)


def _why_offer(campaign: Campaign, offers: list[OfferVerdict], offer: Offer,
               features: dict[str, Any], perm: dict[str, Any]) -> str:
    """Why this offer: preferred over the other eligible ones that can reach the customer;
    the eligible ones that cannot (the rules' first choice among them) are passed over."""
    by_id = {o.id: o for o in campaign.offers}
    mine = next(o for o in offers if o.id == offer.id)
    text = f"eligible for '{offer.id}' (priority {offer.priority}, value {mine.value:g})"
    others = [o for o in offers if o.eligible and o.id != offer.id]
    reaching = [o for o in others if _reaches(by_id[o.id], perm)]
    if reaching:
        text += "; preferred over " + ", ".join(
            f"'{o.id}' (priority {o.priority}, value {o.value:g})" for o in reaching)
    for o in others:
        if o not in reaching:
            first = " (the rules' first choice)" if o.id == perm.get("first_choice") else ""
            text += (f"; passed over '{o.id}'{first}: it cannot reach the customer: "
                     + _unreachable(by_id[o.id], features, perm))
    return text


def _reaches(offer: Offer, perm: dict[str, Any]) -> bool:
    """A channel of ``offer`` is allowed and not suppressed (as ``plan.reachable_sql``)."""
    return any(perm.get(f"{ch}_ok") and not perm.get(f"{ch}_suppressed")
               for ch in offer.channels)


def _unreachable(offer: Offer, features: dict[str, Any], perm: dict[str, Any]) -> str:
    """Why no channel of ``offer`` reaches the customer, channel by channel."""
    whys = [f"{ch}: {_channel(ch, offer, features, perm).why}" for ch in offer.channels]
    missing = [ch for ch in ("email", "letter") if ch not in offer.channels]
    return "; ".join(whys) + (f" (it has no {' or '.join(missing)} channel)" if missing else "")


def _exclusion(con: Connection, campaign: Campaign, cid: str, offer: Offer,
               channels: dict[str, ChannelVerdict], reason: str) -> str:
    """The details behind an exclusion code (declared in crmreport.reasons)."""
    if reason == NO_PERMISSION:
        whys = [channels[ch].why for ch in offer.channels]
        missing = [ch for ch in ("email", "letter") if ch not in offer.channels]
        tail = f" (offer '{offer.id}' has no {' or '.join(missing)} channel)" if missing else ""
        return " and ".join(whys) + tail
    if reason == SUPPRESSED:
        return "; ".join(f"{ch} {SUPPRESSED}: {channels[ch].suppressed}"
                         for ch in offer.channels if channels[ch].allowed)
    if reason == DUPLICATE_EMAIL:
        return "another customer with the same email address gets this email"
    day = f"DATE '{campaign.as_of.isoformat()}'"
    if reason == ALREADY_CONTACTED:
        row = con.execute(f"SELECT run_id, contacted_at, test_group FROM {CONTACTS} WHERE "
                          "customer_id = ? AND campaign = ? ORDER BY contacted_at, run_id "
                          "LIMIT 1", [cid, campaign.campaign]).fetchone()
        return (f"in run {row[0]} on {row[1]} ({row[2]}); a campaign contacts each customer "
                "once" if row else "already in this campaign's history")
    last = con.execute(f"SELECT max(contacted_at), count(*) FILTER (WHERE contacted_at > "
                       f"{day} - ?) FROM {CONTACTS} WHERE customer_id = ? AND test_group = "
                       f"'treatment' AND contacted_at <= {day}",
                       [campaign.policy.max_contacts.days if campaign.policy.max_contacts
                        else 0, cid]).fetchone()
    if reason == FREQUENCY_CAP and campaign.policy.max_contacts and last:
        cap = campaign.policy.max_contacts
        return (f"{last[1]} contacts in the last {cap.days} days (cap {cap.count} in "
                f"{cap.days} days)")
    if reason == QUIET_PERIOD and last and last[0]:
        days = (campaign.as_of - last[0]).days
        return (f"last contact {days} days ago, on {last[0]} "
                f"(quiet_days {campaign.policy.quiet_days})")
    return reason
