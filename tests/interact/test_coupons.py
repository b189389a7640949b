import csv
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import write_shop

from crmreport import pipeline
from crmreport.config import load_campaign
from crmreport.errors import DataError
from crmreport.interact import read_pool

HEADER = ("customer_id,email,salutation,first_name,last_name,company,street,postal_code,city,"
          "country,locale,signup_date,email_consent,mail_objection")


def coupon_shop(folder: Path, ids: list[str], codes: list[str], control: float = 0.3,
                campaign: str = "coupons") -> Path:
    write_shop(folder, control=control)
    (folder / "customers.csv").write_text("\n".join(
        [HEADER, *(f"{c},{c.lower()}@example.de,,,,,,,,DE,de_DE,,yes,false" for c in ids)]) + "\n")
    (folder / "orders.csv").write_text(
        "order_id,customer_id,order_date,amount\n"
        + "".join(f"O{c},{c},2026-02-20,10.00\n" for c in ids))
    (folder / "order_lines.csv").write_text("order_id,category\n")
    (folder / "coupons.csv").write_text("code\n" + "".join(f"{c}\n" for c in codes))
    text = (folder / "campaign.yaml").read_text()
    text = text.replace("campaign: test-campaign", f"campaign: {campaign}")
    text = text.replace("    channels: [email, letter]\n    templates: {email: vip, letter: vip}",
                        "    channels: [email]\n    templates: {email: vip}\n"
                        "    coupons: {pool: coupons.csv}")
    (folder / "campaign.yaml").write_text(text)
    return folder


def _history(folder: Path) -> list[dict[str, str]]:
    with (folder / "contacts.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 12), st.integers(0, 12), st.integers(0, 2))
def test_no_code_is_used_twice_within_or_across_runs(first: int, second: int,
                                                     duplicates: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ids = [f"K{i:03d}" for i in range(first)]
        codes = [f"CODE-{i}" for i in range(first + second)]
        codes += codes[:duplicates]  # repeated codes in the pool count once
        coupon_shop(folder, ids, codes)
        pipeline.build(load_campaign(folder / "campaign.yaml"), folder / "out")
        # a second campaign over more customers draws from the same pool and history
        more = ids + [f"L{i:03d}" for i in range(second)]
        coupon_shop(folder, more, codes, campaign="coupons-two")
        loaded = load_campaign(folder / "campaign.yaml")
        try:
            pipeline.build(loaded, folder / "out")
            ran_out = False
        except DataError as exc:  # the pool ran out: clear error, nothing written
            assert "coupons.csv has only" in str(exc)
            assert not (folder / "out" / "coupons-two").exists()
            ran_out = True
        rows = _history(folder)
        given_codes = [r["coupon"] for r in rows if r["coupon"]]
        assert len(given_codes) == len(set(given_codes))
        assert all(r["test_group"] == "treatment" for r in rows if r["coupon"])
        assert all(r["coupon"] for r in rows if r["test_group"] == "treatment")
        assert set(given_codes) <= set(codes)
        # a rerun adds nothing and hands out no code (or fails the same way, writing nothing)
        before = (folder / "contacts.csv").read_bytes()
        if ran_out:
            with pytest.raises(DataError, match=r"coupons\.csv has only"):
                pipeline.build(loaded, folder / "out")
        else:
            assert pipeline.build(loaded, folder / "out").contacts_added == 0
        assert (folder / "contacts.csv").read_bytes() == before


def test_a_pool_too_small_fails_before_anything_is_written(tmp_path: Path) -> None:
    coupon_shop(tmp_path, ["K1", "K2", "K3"], ["ONLY-ONE"], control=0.0)
    before = (tmp_path / "contacts.csv").exists()
    with pytest.raises(DataError, match=r"3 treated customers need a code but pool coupons\.csv "
                                        r"has only 1 unused"):
        pipeline.build(load_campaign(tmp_path / "campaign.yaml"), tmp_path / "out")
    assert not (tmp_path / "out").exists() and (tmp_path / "contacts.csv").exists() == before
    plan = pipeline.prepare(load_campaign(tmp_path / "campaign.yaml")).plan
    assert plan.coupons["vip-preview"].short == 2


def test_a_missing_pool_names_the_offer_and_file(tmp_path: Path) -> None:
    coupon_shop(tmp_path, ["K1"], [])
    (tmp_path / "coupons.csv").unlink()
    with pytest.raises(DataError, match=r"offer 'vip-preview': coupon pool .*coupons\.csv does "
                                        r"not exist"):
        pipeline.build(load_campaign(tmp_path / "campaign.yaml"), tmp_path / "out")


def test_pool_reads_the_code_column_trimmed_and_distinct(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("batch,Code\n1, A \n1,B\n2,A\n3,\n")
    assert read_pool(path, "x") == ["A", "B"]


def test_an_unreadable_pool_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    pool = tmp_path / "coupons.csv"
    pool.write_text("code\nA-1\n" + "X" * 131_073 + "\nA-3\n")
    with pytest.raises(DataError, match=r"offer 'o': coupon pool .*coupons.csv: the record "
                                        r"after line 2 cannot be read \(field larger"):
        read_pool(pool, "o")
    pool.write_bytes(b"code\nA-1\n\xff\xfe-2\n")
    with pytest.raises(DataError, match=r"cannot be read \(not UTF-8\)"):
        read_pool(pool, "o")
