"""The demo data set: deterministic, well-formed, and carrying a real treatment effect."""

from __future__ import annotations

import hashlib
import math
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from crmreport.demo import DemoFiles, generate

HEADERS = {
    "customers": "customer_id,email,salutation,first_name,last_name,company,street,postal_code,"
    "city,country,locale,signup_date,email_consent,mail_objection",
    "orders": "order_id,customer_id,ordered_at,order_date,amount,currency,status,channel",
    "order_lines": "order_id,sku,product,category,quantity,unit_price",
    "contacts": "run_id,campaign,customer_id,contacted_at,channel,segment,offer,variant,"
    "test_group,content_hash",
    "unsubscribes": "email,channel,reason,since",
}


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate(tmp_path_factory.mktemp("small"), customers=2000)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate(tmp_path_factory.mktemp("full"))


def test_same_arguments_give_identical_bytes(small: DemoFiles, tmp_path: Path) -> None:
    again = generate(tmp_path, customers=2000)
    for field in fields(DemoFiles):
        first, second = getattr(small, field.name), getattr(again, field.name)
        assert first.read_bytes() == second.read_bytes(), field.name
    other_seed = generate(tmp_path / "other", customers=2000, seed=1)
    assert other_seed.orders.read_bytes() != small.orders.read_bytes()


def test_headers_are_the_canonical_columns(small: DemoFiles) -> None:
    for name, header in HEADERS.items():
        path = getattr(small, name)
        assert path.name == f"{name}.csv"
        assert path.read_text(encoding="utf-8").split("\n", 1)[0] == header
    assert not list(small.customers.parent.glob(".*.tmp"))  # no leftovers of atomic writes


def test_customer_ids_are_unique_strings(small: DemoFiles) -> None:
    ids = read(small.customers).customer_id
    assert len(ids) == 2000
    assert ids.is_unique
    assert ids.str.fullmatch(r"C\d{6}").all()
    assert pd.read_csv(small.customers).customer_id.dtype != "int64"  # never parsed as numbers


def test_postcodes_keep_leading_zeros(small: DemoFiles) -> None:
    customers = read(small.customers)
    has_code = customers.postal_code != ""
    de = customers[has_code & (customers.country == "DE")].postal_code
    at = customers[has_code & (customers.country == "AT")].postal_code
    gb = customers[has_code & (customers.country == "GB")].postal_code
    assert de.str.fullmatch(r"\d{5}").all() and at.str.fullmatch(r"\d{4}").all()
    assert de.str.startswith("0").sum() > 20  # e.g. 01067 Dresden, 04109 Leipzig
    assert gb.str.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}").all()
    incomplete = (customers.street == "") | (customers.postal_code == "")
    assert 0.002 < incomplete.mean() < 0.025


def test_emails_unique_example_domains_and_some_messy(small: DemoFiles) -> None:
    raw = read(small.customers).email
    clean = raw.str.strip().str.lower()
    present = clean[clean != ""]
    assert 0.02 < (clean == "").mean() < 0.06
    assert present.is_unique
    assert present.str.fullmatch(r"[a-z0-9.]+@example\.[a-z.]+").all()
    assert 0 < (raw != clean).sum() < 30  # a few need normalising


def test_consent_and_objection_distribution(small: DemoFiles) -> None:
    customers = read(small.customers)
    share = customers.email_consent.value_counts(normalize=True)
    assert set(share.index) == {"yes", "no", ""}
    assert abs(share["yes"] - 0.55) < 0.04
    assert abs(share["no"] - 0.25) < 0.04
    assert abs(share[""] - 0.20) < 0.04
    assert set(customers.mail_objection) == {"true", "false"}
    assert 0.03 < (customers.mail_objection == "true").mean() < 0.07


def test_order_lines_sum_exactly_to_amounts(small: DemoFiles) -> None:
    orders = read(small.orders)
    lines = read(small.order_lines)
    assert orders.amount.str.fullmatch(r"\d+\.\d{2}").all()
    assert lines.unit_price.str.fullmatch(r"\d+\.\d{2}").all()
    totals: dict[str, Decimal] = {}
    for order_id, qty, price in zip(lines.order_id, lines.quantity, lines.unit_price,
                                    strict=True):
        totals[order_id] = totals.get(order_id, Decimal(0)) + int(qty) * Decimal(price)
    assert totals == {o: Decimal(a) for o, a in zip(orders.order_id, orders.amount, strict=True)}
    assert lines.groupby("order_id").size().between(1, 3).all()
    assert lines.category.nunique() == 8


def test_orders_are_numbered_in_time_order_with_berlin_offsets(small: DemoFiles) -> None:
    orders = read(small.orders)
    assert orders.order_id.str.fullmatch(r"O\d{7}").all()
    instants = pd.to_datetime(orders.ordered_at, utc=True, format="ISO8601")
    assert instants.is_monotonic_increasing
    assert (orders.ordered_at.str[:10] == orders.order_date).all()
    month = orders.order_date.str[5:7]
    assert orders.ordered_at[month == "01"].str.endswith("+01:00").all()
    assert orders.ordered_at[month == "07"].str.endswith("+02:00").all()
    assert orders.order_date.max() == "2026-02-28" and orders.order_date.min() >= "2023-03-01"
    assert set(orders.currency) == {"EUR"}
    assert abs((orders.status == "completed").mean() - 0.94) < 0.02


def test_guest_share_and_signup_before_first_order(small: DemoFiles) -> None:
    orders = read(small.orders)
    assert 0.01 < (orders.customer_id == "").mean() < 0.03
    customers = read(small.customers).set_index("customer_id")
    first = orders[orders.customer_id != ""].groupby("customer_id").order_date.min()
    assert set(first.index) <= set(customers.index)
    assert (customers.signup_date[first.index] <= first).all()
    assert customers.signup_date.min() >= "2023-03-01"


def test_control_group_follows_md5_rule(small: DemoFiles) -> None:
    contacts = read(small.contacts)
    assert set(contacts.campaign) == {"autumn-2025", "winter-2026"}
    for campaign, group in contacts.groupby("campaign"):
        expected = [
            int(hashlib.md5(f"{campaign}:{c}".encode()).hexdigest()[:8], 16) / 16**8 < 0.10
            for c in group.customer_id
        ]
        assert (group.test_group == "control").tolist() == expected
        n = len(group)
        share = (group.test_group == "control").mean()
        assert abs(share - 0.10) < 3 * math.sqrt(0.10 * 0.90 / n)
        assert group.customer_id.is_unique
    control = contacts.test_group == "control"
    assert (contacts.content_hash[control] == "").all()
    assert contacts.content_hash[~control].str.fullmatch(r"[0-9a-f]{16}").all()


def test_contact_channels_respect_consent_and_address(small: DemoFiles) -> None:
    contacts = read(small.contacts).merge(read(small.customers), on="customer_id",
                                          suffixes=("", "_customer"))
    email = contacts[contacts.channel == "email"]
    letter = contacts[contacts.channel == "letter"]
    assert len(email) + len(letter) == len(contacts)
    assert (email.email_consent == "yes").all() and (email.email != "").all()
    assert (letter.mail_objection == "false").all()
    assert ((letter.street != "") & (letter.postal_code != "")).all()
    assert set(contacts.segment) <= {"champions", "loyal", "at_risk", "new"}


def test_unsubscribes_include_objections_and_consented(small: DemoFiles) -> None:
    unsub = read(small.unsubscribes)
    assert set(zip(unsub.channel, unsub.reason, strict=True)) == {
        ("email", "unsubscribe"), ("email", "bounce"), ("all", "objection")}
    customers = read(small.customers)
    known = customers.assign(email=customers.email.str.strip().str.lower())
    matched = unsub.merge(known, on="email")
    assert len(matched) == len(unsub) == 30
    assert (matched.email_consent == "yes").any()  # the suppression must win downstream


def test_full_size_volumes_and_treatment_effect(full: DemoFiles) -> None:
    orders = read(full.orders)
    contacts = read(full.contacts)
    assert 60_000 <= len(orders) <= 100_000
    assert contacts.groupby("campaign").size().between(6_000, 9_000).all()
    assert 250 <= len(read(full.unsubscribes)) <= 350
    done = orders[(orders.status == "completed") & (orders.customer_id != "")]
    pairs = contacts.merge(done[["customer_id", "order_date"]], on="customer_id", how="left")
    contacted = pd.to_datetime(pairs.contacted_at)
    ordered = pd.to_datetime(pairs.order_date)  # NaT for contacts without orders
    pairs["hit"] = (ordered > contacted) & (ordered <= contacted + pd.Timedelta(days=30))
    responded = pairs.groupby(["campaign", "customer_id", "test_group"]).hit.any()
    rate = responded.groupby(level="test_group").mean()
    assert 0.05 < rate["control"] < 0.25
    assert 0.015 <= rate["treatment"] - rate["control"] <= 0.07
