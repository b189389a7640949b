import csv
from pathlib import Path

import pytest

from crmreport import testhook
from crmreport.errors import DataError
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


TRICKY = ['=HYPERLINK("x")', "+1", "-5", "@a", "\tx", "'quoted", "'=both", "plain"]


def test_ids_are_written_formula_safe_and_read_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    assert history.append(path, [_row("r1", cid, f"K{cid}") for cid in TRICKY]) == len(TRICKY)
    with path.open(newline="", encoding="utf-8") as handle:
        cells = [row[2] for row in csv.reader(handle)][1:]
    assert cells == ["'" + c if c[0] in "=+-@\t'" else c for c in TRICKY]
    assert [r["customer_id"] for r in history._rows(path)] == TRICKY
    assert history.used_coupons(path) == {f"K{cid}".strip() for cid in TRICKY}


def test_used_coupons_reads_ragged_and_old_histories_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("run_id,coupon,x,coupon\n"  # a repeated name: the last column counts
                    "r1,A,1, ' =B \n"  # stripped; its apostrophe is not first: kept
                    "\n"                # a blank line
                    "r2,C\n"            # too short to reach the last coupon column
                    "r3,D,2,\n"         # an empty code
                    "r4,E,3,'-F,extra\n")  # the apostrophe safe_cell added, taken off
    assert history.used_coupons(path) == {"' =B", "-F"}
    path.write_text(OLD)
    assert history.used_coupons(path) == set()
    assert history.used_coupons(tmp_path / "missing.csv") == set()


def test_used_coupons_names_the_line_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("run_id,coupon\nr1,A\nr2," + "B" * (history.FIELD_LIMIT + 1) + "\n")
    with pytest.raises(DataError, match=r"line 3: the contact history cannot be read .*longer"):
        history.used_coupons(path)


def test_an_old_unescaped_apostrophe_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(OLD.replace(",C1,", ",'C1,"))  # written before apostrophes were escaped
    assert [r["customer_id"] for r in history._rows(path)] == ["'C1"]


def test_append_counts_the_rows_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(OLD)
    monkeypatch.setattr(history, "_write", lambda p, rows: None)  # a write that did nothing
    with pytest.raises(DataError, match="0 of 1 contacts"):
        history.append(path, [_row("r1", "C2")])


def test_a_second_holder_of_the_lock_waits_then_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    said: list[str] = []
    with (history.locked(path, wait=5),
          pytest.raises(DataError, match=r"still holds the contact history after 0\.3 s"),
          history.locked(path, wait=0.3, on_wait=said.append)):
        pass  # pragma: no cover
    assert len(said) == 1 and "waiting up to 0.3 s for another build" in said[0]
    with history.locked(path, wait=0):  # released when the block ends
        pass


def test_a_history_that_cannot_be_written_is_found_before_rendering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder.csv").mkdir()
    for path in (tmp_path / "file" / "contacts.csv", tmp_path / "folder.csv"):
        with pytest.raises(DataError, match=r"cannot be written.*nothing was rendered"):
            history.check_writable(path)
    monkeypatch.setenv(testhook.VARIABLE, "fail:history-probe")
    with pytest.raises(DataError, match="No space left on device"):
        history.check_writable(tmp_path / "contacts.csv")
    monkeypatch.delenv(testhook.VARIABLE)
    history.check_writable(tmp_path / "contacts.csv")
    assert sorted(tmp_path.iterdir()) == [tmp_path / "file", tmp_path / "folder.csv"]


def test_a_history_cell_over_the_limit_is_found_before_rendering(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    history.append(path, [_row("r1", "C1"), _row("r1", "C2")])
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("C2", "C" * (history.FIELD_LIMIT + 1))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"contacts.csv: line 3: the contact history cannot be "
                                        r"read .*a cell is longer than 131,072 characters"):
        history.check_writable(path)
    lines[2] = lines[2].replace("C" * (history.FIELD_LIMIT + 1), "C" * history.FIELD_LIMIT)
    path.write_text("\n".join(lines) + "\n")
    history.check_writable(path)  # exactly at the limit reads back
    path.write_text("x" * (history.FIELD_LIMIT + 1) + "\n")
    with pytest.raises(DataError, match="line 1: the contact history cannot be read"):
        history.check_writable(path)


def test_a_contact_cell_the_history_could_not_read_back_is_refused(tmp_path: Path) -> None:
    columns = ("customer_id", "coupon")
    at_limit = [("C1", "X" * history.FIELD_LIMIT)]
    history.check_fields(tmp_path / "contacts.csv", at_limit, columns)
    over = [("C1", "X"), ("C2", "=" + "X" * history.FIELD_LIMIT)]  # written with a ' first
    with pytest.raises(DataError, match=r"the coupon of contact 2 of this run has 131,074 "
                                        r"characters.*nothing was rendered") as caught:
        history.check_fields(tmp_path / "contacts.csv", over, columns)
    assert "XXX" not in str(caught.value)
