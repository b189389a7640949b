from crmreport import doctor


def test_every_check_reports_and_failures_do_not_stop_the_rest() -> None:
    def broken() -> str:
        raise RuntimeError("no browser\nsecond line")

    checks = doctor.run_checks()
    assert [c.name for c in checks] == ["engine", "fonts", "pdf", "charts"]
    assert all(c.ok for c in checks), checks  # `make test` installs what they need
    failed = doctor._check("charts", broken)
    assert not failed.ok and failed.detail == "RuntimeError: no browser"
