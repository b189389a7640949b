from pathlib import Path

from crmreport.interact import history

OLD = ("run_id,campaign,customer_id,contacted_at,channel,segment,offer,variant,test_group,"
       "content_hash\nr0,old,C1,2026-01-01,email,s,o,A,treatment,abc\n")


def _row(run: str, cid: str, coupon: str = "") -> tuple[str, ...]:
    return (run, "c", cid, "2026-03-01", "email", "s", "o", "A", "treatment", "h", coupon)


def test_append_is_idempotent_per_run_and_keeps_codes(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    assert history.append(path, [_row("r1", "C1", "CODE-1"), _row("r1", "C2")]) == 2
    before = path.read_bytes()
    assert history.append(path, [_row("r1", "C1", "CODE-1")]) == 0
    assert path.read_bytes() == before
    assert history.used_coupons(path) == {"CODE-1"}
    assert path.read_text().splitlines()[0].endswith(",content_hash,coupon")


def test_a_history_without_the_coupon_column_is_widened_rows_intact(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(OLD)
    assert history.append(path, [_row("r1", "C2", "X")]) == 1
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(history.COLUMNS)
    assert lines[1] == "r0,old,C1,2026-01-01,email,s,o,A,treatment,abc,"
    assert lines[2].endswith(",X") and history.used_coupons(path) == {"X"}
