"""crmreport.clv loads its modules on first use, and lists and gives every name it exports."""

import crmreport.clv as clv


def test_every_exported_name_is_listed_and_given() -> None:
    assert set(clv.__all__) <= set(dir(clv))  # before any is loaded
    assert all(getattr(clv, name) is not None for name in clv.__all__)
    assert "__name__" in dir(clv)  # the module's own names are still listed
